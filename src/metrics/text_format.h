#pragma once

#include <string>
#include <string_view>

#include "common/utf8.h"

// Pieces of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), shared by the families'
// Render and by tests.
namespace krond::metrics {

// Sample values: "+Inf", "-Inf", "NaN"; whole numbers below 2^53 without exponent or
// fraction ("1000000", "0"); anything else in the shortest digits that parse back to the
// same double, plain from 1e-4 to 2^53 ("0.25", "0.0004") and with an exponent outside it
// ("1.5e-07", "1e+300").
void AppendValue(std::string& out, double v);
std::string FormatValue(double v);

// Label values escape backslash, double quote and newline.
void AppendEscapedLabelValue(std::string& out, std::string_view value);

// HELP text escapes backslash and newline (a double quote stays as it is).
void AppendEscapedHelp(std::string& out, std::string_view help);

// [a-zA-Z_][a-zA-Z0-9_]*. Prometheus also allows ':' but reserves it for recording rules.
bool IsValidMetricName(std::string_view name);

// [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved for Prometheus internals).
bool IsValidLabelName(std::string_view name);

// `text` with each byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
using krond::SanitizeUtf8;

}  // namespace krond::metrics
