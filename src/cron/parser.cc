#include "cron/parser.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "cron/calendar.h"

namespace krond::cron::internal {
namespace {

using C = Schedule::Compiled;

enum class Field { kSecond, kMinute, kHour, kDayOfMonth, kMonth, kDayOfWeek };

struct FieldInfo {
  const char* name;
  int min;
  int max;  // For day-of-week 7 (also Sunday); `*` and `a/s` stop at 6.
};

constexpr FieldInfo kFieldInfo[] = {
    {"second", 0, 59},       {"minute", 0, 59}, {"hour", 0, 23},
    {"day-of-month", 1, 31}, {"month", 1, 12},  {"day-of-week", 0, 7},
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

const FieldInfo& Info(Field f) { return kFieldInfo[static_cast<int>(f)]; }

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

tl::unexpected<Error> FieldError(Field f, const std::string& message) {
  return MakeError(std::string(Info(f).name) + " field: " + message);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

// Digits only; long strings saturate so "99999999999" is reported as out of range.
int ToInt(std::string_view digits) {
  int v = 0;
  for (char ch : digits) {
    v = v * 10 + (ch - '0');
    if (v > 100'000) return 100'000;
  }
  return v;
}

// One value of a field: a number in range, or a month/day name where the field has names.
// `element` is the list element the value came from, for context in messages.
Result<int> ParseValue(Field f, std::string_view token, std::string_view element) {
  const FieldInfo& info = Info(f);
  if (token.empty()) return FieldError(f, "missing number in " + Quote(element));
  if (AllDigits(token)) {
    const int v = ToInt(token);
    if (v < info.min || v > info.max) {
      return FieldError(f, std::string(token) + " is out of range " + std::to_string(info.min) +
                               "-" + std::to_string(info.max));
    }
    return v;
  }
  if (f == Field::kMonth) {
    for (size_t i = 0; i < kMonthNames.size(); ++i) {
      if (EqualsIgnoreCase(token, kMonthNames[i])) return static_cast<int>(i) + 1;
    }
  }
  if (f == Field::kDayOfWeek) {
    for (size_t i = 0; i < kDayNames.size(); ++i) {
      if (EqualsIgnoreCase(token, kDayNames[i])) return static_cast<int>(i);
    }
  }
  const bool has_names = f == Field::kMonth || f == Field::kDayOfWeek;
  return FieldError(f,
                    Quote(token) + (has_names ? " is not a number or name" : " is not a number"));
}

// The parsed form of one field before it is stored in Compiled.
struct FieldSet {
  uint64_t bits = 0;
  bool last = false;        // Day-of-month `L`.
  uint8_t dow_last = 0;     // Day-of-week `nL`.
  uint8_t dow_nth[5] = {};  // Day-of-week `n#k`.
};

// Day-of-week `n#k` and `nL`; returns false if `element` is neither.
Result<bool> ParseWeekdaySpecial(std::string_view element, FieldSet& set) {
  const Field f = Field::kDayOfWeek;
  if (const size_t hash = element.find('#'); hash != std::string_view::npos) {
    const std::string_view day = element.substr(0, hash);
    const std::string_view nth = element.substr(hash + 1);
    if (day.empty()) return FieldError(f, Quote(element) + " needs a weekday before #, e.g. 1#1");
    auto weekday = ParseValue(f, day, element);
    if (!weekday) return tl::unexpected(weekday.error());
    if (!AllDigits(nth) || ToInt(nth) < 1 || ToInt(nth) > 5) {
      return FieldError(f, "occurrence " + Quote(nth) + " in " + Quote(element) +
                               " is not a number in range 1-5");
    }
    set.dow_nth[ToInt(nth) - 1] |= static_cast<uint8_t>(1u << (*weekday % 7));
    return true;
  }
  if (element.size() >= 2 && (element.back() == 'L' || element.back() == 'l') &&
      element.find_first_of("/-") == std::string_view::npos) {
    auto weekday = ParseValue(f, element.substr(0, element.size() - 1), element);
    if (!weekday) return tl::unexpected(weekday.error());
    set.dow_last |= static_cast<uint8_t>(1u << (*weekday % 7));
    return true;
  }
  return false;
}

Status ParseElement(Field f, std::string_view element, FieldSet& set) {
  const FieldInfo& info = Info(f);
  if (element.empty()) return FieldError(f, "empty list element");
  if (f == Field::kDayOfMonth && EqualsIgnoreCase(element, "l")) {
    set.last = true;
    return {};
  }
  if (f == Field::kDayOfWeek) {
    auto special = ParseWeekdaySpecial(element, set);
    if (!special) return tl::unexpected(special.error());
    if (*special) return {};
  }

  std::string_view base = element;
  std::string_view step_text;
  const size_t slash = element.find('/');
  if (slash != std::string_view::npos) {
    base = element.substr(0, slash);
    step_text = element.substr(slash + 1);
    if (base.empty()) return FieldError(f, Quote(element) + " needs a start before /, e.g. */5");
  }

  // The implicit end of `*` and `a/s`: day-of-week stops at Saturday so `*/2` or `1/2`
  // never add Sunday again as 7.
  const int implicit_max = f == Field::kDayOfWeek ? 6 : info.max;
  int lo = 0;
  int hi = 0;
  if (base == "*" || base == "?") {
    if (base == "?" && f != Field::kDayOfMonth && f != Field::kDayOfWeek) {
      return FieldError(f, "\"?\" is only allowed in day-of-month and day-of-week");
    }
    lo = info.min;
    hi = implicit_max;
  } else if (const size_t dash = base.find('-'); dash != std::string_view::npos) {
    auto start = ParseValue(f, base.substr(0, dash), element);
    if (!start) return tl::unexpected(start.error());
    auto end = ParseValue(f, base.substr(dash + 1), element);
    if (!end) return tl::unexpected(end.error());
    lo = *start;
    hi = *end;
    // `FRI-SUN`: Sunday as the end of a range is 7.
    if (f == Field::kDayOfWeek && hi == 0 && lo > 0) hi = 7;
    if (lo > hi) {
      return FieldError(f, "range " + Quote(base) + " goes backwards (ranges do not wrap around)");
    }
  } else {
    if (f == Field::kDayOfMonth && EqualsIgnoreCase(base, "l")) {
      return FieldError(f, Quote(element) + ": L cannot take a step");
    }
    auto value = ParseValue(f, base, element);
    if (!value) return tl::unexpected(value.error());
    lo = *value;
    hi = slash != std::string_view::npos ? implicit_max : lo;
  }

  int step = 1;
  if (slash != std::string_view::npos) {
    const int max_step = info.max - info.min + 1;
    if (!AllDigits(step_text) || ToInt(step_text) < 1 || ToInt(step_text) > max_step) {
      return FieldError(f, "step " + Quote(step_text) + " in " + Quote(element) +
                               " is not a number in range 1-" + std::to_string(max_step));
    }
    step = ToInt(step_text);
  }
  for (int v = lo; v <= hi; v += step) {
    set.bits |= uint64_t{1} << (f == Field::kDayOfWeek ? v % 7 : v);
  }
  return {};
}

Result<FieldSet> ParseField(Field f, std::string_view text) {
  FieldSet set;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string_view element = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (element.empty()) return FieldError(f, "empty list element in " + Quote(text));
    if (auto ok = ParseElement(f, element, set); !ok) return tl::unexpected(ok.error());
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return set;
}

bool StartsWithStar(std::string_view field) {
  return !field.empty() && (field[0] == '*' || field[0] == '?');
}

}  // namespace

Result<Schedule::Compiled> ParseFields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return MakeError("expected 5 or 6 fields, got " + std::to_string(fields.size()));
  }
  const bool has_seconds = fields.size() == 6;
  const size_t first = has_seconds ? 1 : 0;

  C c;
  c.seconds = 1;  // Five fields fire at second 0.
  if (has_seconds) {
    auto s = ParseField(Field::kSecond, fields[0]);
    if (!s) return tl::unexpected(s.error());
    c.seconds = s->bits;
  }
  auto minutes = ParseField(Field::kMinute, fields[first]);
  if (!minutes) return tl::unexpected(minutes.error());
  auto hours = ParseField(Field::kHour, fields[first + 1]);
  if (!hours) return tl::unexpected(hours.error());
  auto dom = ParseField(Field::kDayOfMonth, fields[first + 2]);
  if (!dom) return tl::unexpected(dom.error());
  auto months = ParseField(Field::kMonth, fields[first + 3]);
  if (!months) return tl::unexpected(months.error());
  auto dow = ParseField(Field::kDayOfWeek, fields[first + 4]);
  if (!dow) return tl::unexpected(dow.error());

  c.minutes = minutes->bits;
  c.hours = static_cast<uint32_t>(hours->bits);
  c.dom = static_cast<uint32_t>(dom->bits);
  c.months = static_cast<uint16_t>(months->bits);
  c.dow = static_cast<uint8_t>(dow->bits);
  c.dow_last = dow->dow_last;
  for (int k = 0; k < 5; ++k) c.dow_nth[k] = dow->dow_nth[k];
  if (dom->last) c.flags |= C::kDomLast;
  if (StartsWithStar(fields[first + 2])) c.flags |= C::kDomStar;
  if (StartsWithStar(fields[first + 4])) c.flags |= C::kDowStar;
  if (!StartsWithStar(fields[first]) && !StartsWithStar(fields[first + 1])) {
    c.flags |= C::kFixedTime;
  }

  if (!CanEverFire(c)) {
    const std::string dom_text = Quote(fields[first + 2]);
    const std::string month_text = Quote(fields[first + 3]);
    C dom_only = c;
    dom_only.dow = 0x7f;
    dom_only.flags |= C::kDowStar;
    if (!CanEverFire(dom_only)) {
      return MakeError("schedule never fires: day-of-month " + dom_text +
                       " does not occur in month " + month_text);
    }
    return MakeError("schedule never fires: no day matches day-of-month " + dom_text + ", month " +
                     month_text + " and day-of-week " + Quote(fields[first + 4]));
  }
  return c;
}

bool CanEverFire(const Schedule::Compiled& c) {
  for (unsigned m = 1; m <= 12; ++m) {
    if ((c.months >> m & 1) == 0) continue;
    // 2001 is a common year; February also has 29 days in leap years.
    const unsigned lengths[] = {DaysInMonth(2001, m), m == 2 ? 29u : 0u};
    for (unsigned days : lengths) {
      if (days == 0) continue;
      for (unsigned weekday = 0; weekday < 7; ++weekday) {
        if (MatchingDays(c, days, weekday) != 0) return true;
      }
    }
  }
  return false;
}

}  // namespace krond::cron::internal
