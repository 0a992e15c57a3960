#include "cron/describe.h"

#include <date/tz.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "common/duration.h"

namespace krond::cron {
namespace {

using C = Schedule::Compiled;

constexpr std::string_view kDays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                      "Thursday", "Friday", "Saturday"};
constexpr std::string_view kMonths[] = {"",        "January",  "February", "March",  "April",
                                        "May",     "June",     "July",     "August", "September",
                                        "October", "November", "December"};
constexpr std::string_view kOrdinals[] = {"first", "second", "third", "fourth", "fifth"};

std::vector<int> Members(uint64_t bits, int lo, int hi) {
  std::vector<int> out;
  for (int v = lo; v <= hi; ++v) {
    if (bits >> v & 1) out.push_back(v);
  }
  return out;
}

// "a", "a and b", "a, b and c".
std::string JoinAnd(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

// Values with runs of three or more shortened: {1,2,3,4,5} -> "Monday to Friday".
template <class Name>
std::string Ranges(const std::vector<int>& values, Name name) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < values.size();) {
    size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1) ++j;
    if (j - i >= 2) {
      parts.push_back(name(values[i]) + " to " + name(values[j]));
    } else {
      for (size_t k = i; k <= j; ++k) parts.push_back(name(values[k]));
    }
    i = j + 1;
  }
  return JoinAnd(parts);
}

// The step of a set that is lo, lo+k, lo+2k, ... through the whole range with k > 1.
int StepOf(const std::vector<int>& values, int lo, int hi) {
  if (values.size() < 2 || values.front() != lo) return 0;
  const int k = values[1] - values[0];
  if (k < 2) return 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] - values[i - 1] != k) return 0;
  }
  return values.back() + k > hi ? k : 0;
}

std::string Number(int v) { return std::to_string(v); }

std::string Clock(int h, int m, int s, bool with_seconds) {
  char text[16];
  if (with_seconds) {
    std::snprintf(text, sizeof text, "%02d:%02d:%02d", h, m, s);
  } else {
    std::snprintf(text, sizeof text, "%02d:%02d", h, m);
  }
  return text;
}

std::string Plural(int n, std::string_view unit) {
  return "every " + std::to_string(n) + " " + std::string(unit) + "s";
}

std::string TimeOfDay(const C& c) {
  const auto seconds = Members(c.seconds, 0, 59);
  const auto minutes = Members(c.minutes, 0, 59);
  const auto hours = Members(c.hours, 0, 23);
  const bool all_hours = hours.size() == 24;
  const bool second_zero = seconds.size() == 1 && seconds[0] == 0;
  const bool one_second = seconds.size() == 1;
  const std::string in_hours = all_hours ? "" : ", during hours " + Ranges(hours, Number);

  if (seconds.size() == 60 && minutes.size() == 60) return "every second" + in_hours;
  if (!one_second && minutes.size() == 60) {
    if (int k = StepOf(seconds, 0, 59)) return Plural(k, "second") + in_hours;
    return "at seconds " + Ranges(seconds, Number) + " of every minute" + in_hours;
  }
  if (second_zero && minutes.size() == 60) return "every minute" + in_hours;
  if (one_second && minutes.size() * hours.size() <= 4) {
    std::vector<std::string> times;
    for (int h : hours) {
      for (int m : minutes) times.push_back(Clock(h, m, seconds[0], !second_zero));
    }
    return "at " + JoinAnd(times);
  }
  if (second_zero) {
    if (int k = StepOf(minutes, 0, 59)) return Plural(k, "minute") + in_hours;
    if (minutes.size() == 1 && all_hours) {
      return "every hour at minute " + std::to_string(minutes[0]);
    }
    if (minutes.size() == 1) {
      if (int k = StepOf(hours, 0, 23)) {
        return Plural(k, "hour") + " at minute " + std::to_string(minutes[0]);
      }
    }
  }
  std::string out = minutes.size() == 1 ? "at minute " : "at minutes ";
  out += Ranges(minutes, Number);
  if (!second_zero)
    out = "at second" + std::string(one_second ? " " : "s ") + Ranges(seconds, Number) + " of " +
          out.substr(3);
  out += all_hours
             ? " of every hour"
             : " past hour" + std::string(hours.size() == 1 ? " " : "s ") + Ranges(hours, Number);
  return out;
}

// "" when every day qualifies.
std::string Days(const C& c) {
  const bool dom_star = c.flags & C::kDomStar;
  const bool dow_star = c.flags & C::kDowStar;
  std::vector<std::string> dom_parts;
  const auto dom = Members(c.dom, 1, 31);
  if (!dom.empty()) {
    dom_parts.push_back((dom.size() == 1 ? "on day " : "on days ") + Ranges(dom, Number) +
                        " of the month");
  }
  if (c.flags & C::kDomLast) dom_parts.push_back("on the last day of the month");

  std::vector<std::string> dow_parts;
  const auto dow = Members(c.dow, 0, 6);
  if (!dow.empty() && dow.size() < 7) {
    dow_parts.push_back(Ranges(dow, [](int d) { return std::string(kDays[d]); }));
  }
  for (int d : Members(c.dow_last, 0, 6)) {
    dow_parts.push_back("on the last " + std::string(kDays[d]) + " of the month");
  }
  for (int k = 0; k < 5; ++k) {
    for (int d : Members(c.dow_nth[k], 0, 6)) {
      dow_parts.push_back("on the " + std::string(kOrdinals[k]) + " " + std::string(kDays[d]) +
                          " of the month");
    }
  }
  const bool dom_all = dom_star || (dom.size() == 31 && !(c.flags & C::kDomLast));
  const bool dow_all = dow_star || (dow.size() == 7 && dow_parts.empty());
  if (dom_all && dow_all) return "";
  if (dow_all) return JoinAnd(dom_parts);
  if (dom_all) return JoinAnd(dow_parts);
  // Both restricted: cron fires on either (the classic rule).
  return JoinAnd(dom_parts) + " or " + JoinAnd(dow_parts);
}

std::string Months(const C& c) {
  const auto months = Members(c.months, 1, 12);
  if (months.size() == 12) return "";
  return "in " + Ranges(months, [](int m) { return std::string(kMonths[m]); });
}

}  // namespace

std::string Describe(const Schedule& schedule) {
  const C& c = schedule.compiled();
  if (c.every_ms > 0) return "every " + FormatDuration(std::chrono::milliseconds(c.every_ms));
  std::vector<std::string> parts = {TimeOfDay(c)};
  std::string days = Days(c);
  const std::string months = Months(c);
  if (days.empty() && months.empty() && parts[0].rfind("at ", 0) == 0 &&
      parts[0].find("minute") == std::string::npos) {
    days = "every day";
  }
  if (!days.empty()) parts.push_back(days);
  if (!months.empty()) parts.push_back(months);
  if (schedule.zone() != nullptr) parts.push_back(std::string(schedule.zone()->name()));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? ", " : "") + parts[i];
  return out;
}

}  // namespace krond::cron
