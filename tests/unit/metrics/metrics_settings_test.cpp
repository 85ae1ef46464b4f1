// Settings validation for config loading.
#include "metrics/metrics_settings.hpp"

#include <gtest/gtest.h>

namespace apimeter::metrics {
namespace {

MetricsSettings valid() {
  MetricsSettings s;
  s.service = "shop";
  s.route_labels = {"/a", "/b"};
  return s;
}

TEST(MetricsSettings, DefaultsAreValid) { EXPECT_TRUE(validate(valid()).empty()); }

TEST(MetricsSettings, RejectsBadBucketsCapsAndLabels) {
  MetricsSettings s = valid();
  s.duration_buckets = {0.1, 0.05};
  s.route_buckets = {{}, {-1}};
  s.top_users = 0;
  s.extra_labels = {{"http_route", ExtraLabel::Source::query, "x", {}, 5}, {"ok", ExtraLabel::Source::query, "", {}, 0}};
  s.user_source.kind = UserIdentitySource::Kind::header;
  auto errors = validate(s);
  EXPECT_GE(errors.size(), 6u);
  for (const auto& e : errors) EXPECT_FALSE(e.empty());
}

TEST(MetricsSettings, ExtraLabelNamesMustBeValidAndOurOwnAreTaken) {
  EXPECT_TRUE(valid_extra_label_name("request_type"));
  EXPECT_FALSE(valid_extra_label_name("1abc"));
  EXPECT_FALSE(valid_extra_label_name("__name"));
  EXPECT_FALSE(valid_extra_label_name("user"));
  EXPECT_FALSE(valid_extra_label_name("a-b"));
}

}  // namespace
}  // namespace apimeter::metrics
