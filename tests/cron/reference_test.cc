// Property tests: Schedule::Next against slow, obviously-correct references, for many random
// (seeded, so reproducible) expressions.
//  - UTC: a brute-force walk over days, then minutes (or seconds) of each matching day.
//  - DST zones: every matching local minute of a few days around each 2026 transition is
//    mapped to instants by the rule of docs/cron.md, using date's local_info directly.
#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/time_format.h"
#include "cron/schedule.h"

namespace krond::cron {
namespace {

constexpr int64_t kDay = 86'400;

// What an expression means, built alongside its text by the generator below.
struct Spec {
  std::string text;
  bool has_seconds = false;
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> dom;
  bool dom_last = false;
  std::bitset<13> months;
  std::bitset<7> dow;
  std::bitset<7> dow_last;
  std::bitset<7> dow_nth[5];
  bool dom_star = false;
  bool dow_star = false;
};

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  // `hour_max` < 23 concentrates hours near DST transitions.
  Spec Make(bool allow_seconds, int hour_max = 23) {
    Spec s;
    s.has_seconds = allow_seconds && Chance(0.2);
    if (s.has_seconds) {
      s.text += Field(0, 59, s.seconds, nullptr) + " ";
    } else {
      s.seconds.set(0);
    }
    s.text += Field(0, 59, s.minutes, nullptr) + " ";
    s.text += Field(0, hour_max, s.hours, nullptr, hour_max == 23, hour_max == 23) + " ";
    const std::string dom = DomField(s);
    // The classic rule looks at the first character only: `*/3,L` counts as a star.
    s.dom_star = dom[0] == '*' || dom[0] == '?';
    s.text += dom + " ";
    static const char* kMonths[] = {"",    "JAN", "feb", "Mar", "APR", "may", "JUN",
                                    "jul", "AUG", "Sep", "OCT", "nov", "DEC"};
    s.text += Chance(0.6) ? Star(1, 12, s.months) : Field(1, 12, s.months, kMonths);
    const std::string dow = DowField(s);
    s.dow_star = dow[0] == '*' || dow[0] == '?';
    s.text += " " + dow;
    return s;
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<>(0, 1)(rng_) < p; }
  int Int(int lo, int hi) { return std::uniform_int_distribution<>(lo, hi)(rng_); }

  template <size_t N>
  std::string Star(int lo, int hi, std::bitset<N>& bits) {
    for (int v = lo; v <= hi; ++v) bits.set(v);
    return "*";
  }

  std::string Value(int v, const char* const* names) {
    return names != nullptr && Chance(0.5) ? names[v] : std::to_string(v);
  }

  // A random list of `*`, `*/s`, `a`, `a-b`, `a-b/s` and `a/s` over lo..hi.
  // `full_range`: lo..hi is the whole field, so `*/s` and `a/s` mean what the generator thinks.
  template <size_t N>
  std::string Field(int lo, int hi, std::bitset<N>& bits, const char* const* names,
                    bool allow_star = true, bool full_range = true) {
    if (allow_star && Chance(0.25)) return Star(lo, hi, bits);
    std::string out;
    const int elements = Int(1, 3);
    for (int e = 0; e < elements; ++e) {
      if (e > 0) out += ",";
      int a = Int(lo, hi);
      int b = Int(a, hi);
      int step = 1;
      switch (full_range ? Int(0, 4) : Int(1, 3)) {
        case 0:  // */s
          a = lo;
          b = hi;
          step = Int(1, hi - lo + 1);
          out += "*/" + std::to_string(step);
          break;
        case 1:  // a
          b = a;
          out += Value(a, names);
          break;
        case 2:  // a-b
          out += Value(a, names) + "-" + Value(b, names);
          break;
        case 3:  // a-b/s
          step = Int(1, 10);
          out += Value(a, names) + "-" + Value(b, names) + "/" + std::to_string(step);
          break;
        default:  // a/s
          b = hi;
          step = Int(1, 10);
          out += Value(a, names) + "/" + std::to_string(step);
          break;
      }
      for (int v = a; v <= b; v += step) bits.set(v);
    }
    return out;
  }

  std::string DomField(Spec& s) {
    if (Chance(0.45)) {
      if (Chance(0.2)) {
        for (int d = 1; d <= 31; ++d) s.dom.set(d);
        return "?";
      }
      if (Chance(0.2)) {
        const int step = Int(2, 9);
        for (int d = 1; d <= 31; d += step) s.dom.set(d);
        return "*/" + std::to_string(step);
      }
      return Star(1, 31, s.dom);
    }
    std::string out = Field(1, 31, s.dom, nullptr, false);
    if (Chance(0.2)) {
      s.dom_last = true;
      out += ",L";
    }
    return out;
  }

  std::string DowField(Spec& s) {
    static const char* kDays[] = {"SUN", "mon", "Tue", "WED", "thu", "Fri", "SAT"};
    if (Chance(0.5)) {
      if (Chance(0.2)) {
        for (int d = 0; d <= 6; ++d) s.dow.set(d);
        return "?";
      }
      return Star(0, 6, s.dow);
    }
    std::string out;
    const int elements = Int(1, 2);
    for (int e = 0; e < elements; ++e) {
      if (e > 0) out += ",";
      const int day = Int(0, 6);
      switch (Int(0, 3)) {
        case 0: {
          const int k = Int(1, 5);
          s.dow_nth[k - 1].set(day);
          out += Value(day, kDays) + "#" + std::to_string(k);
          break;
        }
        case 1:
          s.dow_last.set(day);
          out += Value(day, kDays) + "L";
          break;
        case 2:
          // Sunday as 7.
          s.dow.set(day);
          out += day == 0 && Chance(0.5) ? "7" : Value(day, kDays);
          break;
        default: {
          const int end = Int(day, 6);
          for (int d = day; d <= end; ++d) s.dow.set(d);
          out += Value(day, kDays) + "-" + Value(end, kDays);
          break;
        }
      }
    }
    return out;
  }

  std::mt19937 rng_;
};

bool DayMatches(const Spec& s, int64_t day) {
  const date::sys_days sd{date::days(day)};
  const date::year_month_day ymd{sd};
  if (!s.months[static_cast<unsigned>(ymd.month())]) return false;
  const unsigned d = static_cast<unsigned>(ymd.day());
  const unsigned last = static_cast<unsigned>((ymd.year() / ymd.month() / date::last).day());
  const unsigned wd = date::weekday(sd).c_encoding();
  const bool dom = s.dom[d] || (s.dom_last && d == last);
  const bool dow = s.dow[wd] || (s.dow_last[wd] && d + 7 > last) || s.dow_nth[(d - 1) / 7][wd];
  return (s.dom_star || s.dow_star) ? (dom && dow) : (dom || dow);
}

bool TimeMatches(const Spec& s, int64_t second_of_day) {
  return s.hours[second_of_day / 3600] && s.minutes[second_of_day / 60 % 60] &&
         s.seconds[second_of_day % 60];
}

// Brute force in UTC: the first matching second after `after`, scanning up to 40 years.
std::optional<int64_t> ReferenceNextUtc(const Spec& s, int64_t after) {
  const int64_t first_day = date::floor<date::days>(date::sys_seconds(std::chrono::seconds(after)))
                                .time_since_epoch()
                                .count();
  const int64_t step = s.has_seconds ? 1 : 60;
  for (int64_t day = first_day; day < first_day + 40 * 366; ++day) {
    if (!DayMatches(s, day)) continue;
    for (int64_t sod = 0; sod < kDay; sod += step) {
      const int64_t t = day * kDay + sod;
      if (t > after && TimeMatches(s, sod)) return t;
    }
  }
  return std::nullopt;
}

bool EverMatchesInGregorianCycle(const Spec& s) {
  for (int64_t day = 0; day < 146'097; ++day) {
    if (DayMatches(s, day)) return true;
  }
  return false;
}

SystemTime FromSeconds(int64_t s) { return SystemTime(std::chrono::seconds(s)); }

int64_t ToSeconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TEST(ReferenceTest, NextMatchesBruteForceInUtc) {
  Generator gen(20260308);
  const auto* utc = date::locate_zone("UTC");
  std::mt19937 rng(7);
  // 2000-01-01 .. 2040-01-01
  std::uniform_int_distribution<int64_t> start(946'684'800, 2'208'988'800);
  int checked = 0;
  int rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    const Spec spec = gen.Make(/*allow_seconds=*/true);
    auto schedule = Schedule::Parse(spec.text, utc);
    if (!schedule) {
      EXPECT_NE(schedule.error().message.find("never fires"), std::string::npos)
          << spec.text << ": " << schedule.error().message;
      EXPECT_FALSE(EverMatchesInGregorianCycle(spec)) << spec.text;
      ++rejected;
      continue;
    }
    int64_t t = start(rng);
    if (i % 3 == 0) t -= t % 60;  // On a boundary, to check "strictly after".
    for (int k = 0; k < 6; ++k) {
      const auto expected = ReferenceNextUtc(spec, t);
      if (!expected) break;  // Rarer than once in 40 years; not this test's business.
      const auto got = schedule->Next(FromSeconds(t) + std::chrono::milliseconds(i % 2 ? 0 : 999));
      ASSERT_TRUE(got) << spec.text << " after " << FormatRfc3339Utc(FromSeconds(t));
      ASSERT_EQ(FormatRfc3339Utc(*got), FormatRfc3339Utc(FromSeconds(*expected)))
          << spec.text << " after " << FormatRfc3339Utc(FromSeconds(t)) << " (+"
          << (i % 2 ? 0 : 999) << "ms)";
      t = *expected;
      ++checked;
    }
  }
  EXPECT_GT(checked, 8000);
  EXPECT_LT(rejected, 200);
}

// Fire instants of `spec` for local wall times in [local_begin, local_end) per the DST rule.
std::set<int64_t> ReferenceFiresInZone(const Spec& spec, const date::time_zone* zone,
                                       int64_t local_begin, int64_t local_end, bool fixed) {
  std::set<int64_t> fires;
  for (int64_t l = local_begin; l < local_end; l += 60) {
    const int64_t day = l / kDay;
    if (!DayMatches(spec, day) || !TimeMatches(spec, l - day * kDay)) continue;
    const auto info = zone->get_info(date::local_seconds(std::chrono::seconds(l)));
    switch (info.result) {
      case date::local_info::unique:
        fires.insert(l - info.first.offset.count());
        break;
      case date::local_info::ambiguous:
        fires.insert(l - info.first.offset.count());
        if (!fixed) fires.insert(l - info.second.offset.count());
        break;
      case date::local_info::nonexistent:
        if (fixed) fires.insert(info.second.begin.time_since_epoch().count());
        break;
    }
  }
  return fires;
}

TEST(ReferenceTest, DstRuleMatchesLocalTimeEnumeration) {
  struct Window {
    const char* zone;
    const char* first_day;  // Local midnight; the transition is the next day.
  };
  const Window windows[] = {
      {"America/New_York", "2026-03-07"},    {"America/New_York", "2026-10-31"},
      {"Europe/London", "2026-03-28"},       {"Europe/London", "2026-10-24"},
      {"Australia/Lord_Howe", "2026-04-04"}, {"Australia/Lord_Howe", "2026-10-03"},
  };
  Generator gen(1101);
  int compared = 0;
  for (int i = 0; i < 400; ++i) {
    const Spec spec = gen.Make(/*allow_seconds=*/false, /*hour_max=*/4);
    for (const Window& w : windows) {
      const auto* zone = date::locate_zone(w.zone);
      auto schedule = Schedule::Parse(spec.text, zone);
      if (!schedule) break;  // Impossible day patterns are covered above.
      date::local_days first;
      std::istringstream in(w.first_day);
      in >> date::parse("%F", first);
      const int64_t local_begin = first.time_since_epoch().count() * kDay;
      const int64_t local_end = local_begin + 3 * kDay;
      const auto expected =
          ReferenceFiresInZone(spec, zone, local_begin, local_end, schedule->fixed_time());
      // Window edges are local midnights, far from any transition, so each maps to one instant.
      const int64_t begin =
          local_begin - zone->get_info(date::local_seconds(std::chrono::seconds(local_begin)))
                            .first.offset.count();
      const int64_t end =
          local_end -
          zone->get_info(date::local_seconds(std::chrono::seconds(local_end))).first.offset.count();
      std::set<int64_t> got;
      SystemTime t = FromSeconds(begin - 1);
      while (true) {
        const auto next = schedule->Next(t);
        if (!next || ToSeconds(*next) >= end) break;
        got.insert(ToSeconds(*next));
        t = *next;
      }
      std::string diff;
      for (int64_t e : expected) {
        if (!got.count(e)) diff += " missing " + FormatRfc3339InZone(FromSeconds(e), zone);
      }
      for (int64_t g : got) {
        if (!expected.count(g)) diff += " extra " + FormatRfc3339InZone(FromSeconds(g), zone);
      }
      ASSERT_EQ(diff, "") << spec.text << " in " << w.zone << " from " << w.first_day;
      compared += static_cast<int>(got.size());
    }
  }
  EXPECT_GT(compared, 3000);
}

}  // namespace
}  // namespace krond::cron
