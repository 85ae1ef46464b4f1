// Helpers of the config tests: load YAML text, and load plus validate it as startup does.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/config_loader.hpp"

namespace apimeter::testing_config {

inline constexpr const char* kValidBase = "upstreams: [127.0.0.1:3000]\n";

inline LoadResult load(const std::string& yaml) {
  return load_config_text(yaml, "test.yaml");
}

// Loads and validates, as startup does, and returns every problem formatted.
inline std::vector<std::string> problems_of(const std::string& yaml) {
  LoadResult result = load(yaml);
  if (result.parsed) {
    for (Diagnostic& d : validate_config(result.config, result.origins))
      result.problems.push_back(std::move(d));
  }
  std::vector<std::string> out;
  for (const Diagnostic& d : result.problems) out.push_back(format_diagnostic(d));
  return out;
}

inline std::string only_problem(const std::string& yaml) {
  const std::vector<std::string> all = problems_of(yaml);
  EXPECT_EQ(all.size(), 1u) << ::testing::PrintToString(all);
  return all.empty() ? "" : all.front();
}

}  // namespace apimeter::testing_config
