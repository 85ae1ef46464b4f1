// Extra labels: raw value extraction, allow-lists, first-come caps, unsafe values.
#include "metrics/extra_labels.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace apimeter::metrics {
namespace {

TEST(ExtraLabels, QueryParameterIsFoundByExactName) {
  EXPECT_EQ(query_parameter("/p?type=book&x=1", "type"), "book");
  EXPECT_EQ(query_parameter("/p?x=1&type=", "type"), "");
  EXPECT_EQ(query_parameter("/p?subtype=a&type=b", "type"), "b");
  EXPECT_EQ(query_parameter("/p?flag&type=c", "type"), "c");
  EXPECT_EQ(query_parameter("/p", "type"), "");
}

TEST(ExtraLabels, ExtractsHeaderAndQueryValuesInConfigOrder) {
  std::vector<ExtraLabel> labels = {{"tenant", ExtraLabel::Source::header, "X-Tenant", {}, 5},
                                    {"kind", ExtraLabel::Source::query, "type", {}, 5}};
  auto headers = [](std::string_view name) { return name == "X-Tenant" ? std::string_view("acme") : std::string_view{}; };
  ExtraLabelValues out;
  extract_extra_labels(labels, headers, "/search?type=fast", out);
  EXPECT_EQ(out[0], "acme");
  EXPECT_EQ(out[1], "fast");
  EXPECT_EQ(out[2], "");
}

TEST(ExtraLabels, AllowListMapsEverythingElseToOther) {
  ExtraLabel def{"kind", ExtraLabel::Source::query, "type", {"book", "music"}, 10};
  ExtraLabelValuesIndex index(def);
  EXPECT_EQ(index.value(index.index("music")), "music");
  EXPECT_EQ(index.value(index.index("film")), "_other");
  EXPECT_EQ(index.index(""), kExtraAbsent);
  EXPECT_EQ(index.value(kExtraAbsent), "");
}

TEST(ExtraLabels, CapModeAdmitsFirstComersThenOther) {
  ExtraLabel def{"kind", ExtraLabel::Source::query, "type", {}, 2};
  ExtraLabelValuesIndex index(def);
  const auto a = index.index("a");
  EXPECT_EQ(index.value(a), "a");
  EXPECT_EQ(index.value(index.index("b")), "b");
  EXPECT_EQ(index.value(index.index("c")), "_other");
  EXPECT_EQ(index.index("a"), a);
  EXPECT_EQ(index.value(index.index("x y")), "_other");  // unsafe characters never become labels
  EXPECT_EQ(index.value(index.index(std::string(65, 'v'))), "_other");
}

}  // namespace
}  // namespace apimeter::metrics
