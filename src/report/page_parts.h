// Sections of the report page built from tables rather than charts (page_parts.cpp).
#pragma once

#include <string>

#include "report/report_data.h"

namespace ramq::report {

// PPL, median PPL, KL divergence and top-1 agreement from `ramq eval --json`, or a note.
std::string eval_section(const ReportData& d);
// The manifest's inputs, options and outputs (whatever fields it has), or a note.
std::string manifest_section(const ReportData& d);
// Every tensor, in a collapsed <details> element.
std::string tensor_table_section(const ReportData& d);

}  // namespace ramq::report
