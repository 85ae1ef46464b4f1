// The compiled router: first match in config order across all three kinds of route, methods, labels,
// per-route timeouts, and agreement with a plain linear scan on many random routes.
#include "proxy/router.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace apimeter {
namespace {

using namespace std::chrono_literals;

RouteConfig route(std::string name, RouteMatch match, std::string pattern,
                  std::vector<std::string> methods = {}) {
  RouteConfig r;
  r.name = std::move(name);
  r.match = match;
  r.pattern = std::move(pattern);
  r.methods = std::move(methods);
  return r;
}

Config with_routes(std::vector<RouteConfig> routes) {
  Config config;
  config.routes = std::move(routes);
  return config;
}

std::string matched(const Router& router, std::string_view method, std::string_view path) {
  const Route* r = router.match(method, path);
  return r == nullptr ? "<none>" : r->name;
}

TEST(Router, MatchesEachKindOfRoute) {
  const Router router(with_routes({
      route("products", RouteMatch::exact, "/api/products"),
      route("product", RouteMatch::path_template, "/api/products/{id}"),
      route("static", RouteMatch::prefix, "/static/"),
  }));
  EXPECT_EQ(matched(router, "GET", "/api/products"), "products");
  EXPECT_EQ(matched(router, "GET", "/api/products/7"), "product");
  EXPECT_EQ(matched(router, "GET", "/static/css/site.css"), "static");
  EXPECT_EQ(matched(router, "GET", "/static/"), "static");
  EXPECT_EQ(matched(router, "GET", "/static"), "<none>");
  EXPECT_EQ(matched(router, "GET", "/api/products/"), "<none>");
  EXPECT_EQ(matched(router, "GET", "/api/products/7/reviews"), "<none>");
  EXPECT_EQ(matched(router, "GET", "/elsewhere"), "<none>");
}

TEST(Router, FirstMatchInConfigOrderWins) {
  // Every kind is indexed separately; the earliest route in config order must still win across indexes.
  const Router router(with_routes({
      route("orders-prefix", RouteMatch::prefix, "/api/orders/", {"DELETE"}),
      route("order", RouteMatch::path_template, "/api/orders/{id}", {"GET", "DELETE"}),
      route("order-one", RouteMatch::exact, "/api/orders/1"),
      route("any-second", RouteMatch::path_template, "/api/{what}/{id}"),
      route("api", RouteMatch::prefix, "/api"),
      route("root", RouteMatch::prefix, "/"),
  }));
  EXPECT_EQ(matched(router, "DELETE", "/api/orders/1"),
            "orders-prefix");                                       // prefix beats later template, exact
  EXPECT_EQ(matched(router, "GET", "/api/orders/1"), "order");      // template beats later exact
  EXPECT_EQ(matched(router, "PUT", "/api/orders/1"), "order-one");  // methods let it fall through
  EXPECT_EQ(matched(router, "PUT", "/api/orders/2"), "any-second");
  EXPECT_EQ(matched(router, "PUT", "/api/users/2"), "any-second");
  EXPECT_EQ(matched(router, "GET", "/apiary"), "api");  // a prefix need not end at a segment
  EXPECT_EQ(matched(router, "GET", "/"), "root");
  EXPECT_EQ(matched(router, "GET", "/x/y/z"), "root");
}

TEST(Router, PrefixMayEndInsideASegment) {
  const Router router(with_routes({
      route("img", RouteMatch::prefix, "/static/img/"),
      route("ord", RouteMatch::prefix, "/api/ord"),
      route("deep", RouteMatch::path_template, "/api/orders/{id}/items/{item}"),
  }));
  EXPECT_EQ(matched(router, "GET", "/static/img/a.png"), "img");
  EXPECT_EQ(matched(router, "GET", "/static/imgs/a.png"), "<none>");
  EXPECT_EQ(matched(router, "GET", "/api/orders/1/items/2"), "ord");
  EXPECT_EQ(matched(router, "GET", "/api/ord"), "ord");
  EXPECT_EQ(matched(router, "GET", "/api/or"), "<none>");
}

TEST(Router, LaterRoutesNeverBeatEarlierOnesEvenIfMoreSpecific) {
  const Router router(with_routes({
      route("catch-all", RouteMatch::prefix, "/"),
      route("search", RouteMatch::exact, "/api/search"),
  }));
  EXPECT_EQ(matched(router, "GET", "/api/search"), "catch-all");
}

TEST(Router, EqualExactPathsWithDifferentMethodsAreTriedInOrder) {
  const Router router(with_routes({
      route("create", RouteMatch::exact, "/api/orders", {"POST"}),
      route("list", RouteMatch::exact, "/api/orders", {"GET", "HEAD"}),
  }));
  EXPECT_EQ(matched(router, "POST", "/api/orders"), "create");
  EXPECT_EQ(matched(router, "HEAD", "/api/orders"), "list");
  EXPECT_EQ(matched(router, "PATCH", "/api/orders"), "<none>");
}

TEST(Router, MethodsAreCaseSensitiveAndEmptyMeansAny) {
  const Router router(with_routes({
      route("only-get", RouteMatch::exact, "/a", {"GET"}),
      route("any", RouteMatch::exact, "/b"),
  }));
  EXPECT_EQ(matched(router, "get", "/a"), "<none>");
  EXPECT_EQ(matched(router, "GET", "/a"), "only-get");
  EXPECT_EQ(matched(router, "BREW", "/b"), "any");
}

TEST(Router, IgnoresTheQueryString) {
  const Router router(with_routes({route("search", RouteMatch::exact, "/api/search"),
                                   route("order", RouteMatch::path_template, "/api/orders/{id}")}));
  EXPECT_EQ(matched(router, "GET", "/api/search?q=shoes&page=2"), "search");
  EXPECT_EQ(matched(router, "GET", "/api/orders/9?x=/y"), "order");
  EXPECT_EQ(matched(router, "GET", "/api/orders/?x"), "<none>");
}

TEST(Router, PathsNotStartingWithSlashMatchNothing) {
  const Router router(with_routes({route("root", RouteMatch::prefix, "/")}));
  EXPECT_EQ(matched(router, "OPTIONS", "*"), "<none>");
  EXPECT_EQ(matched(router, "GET", ""), "<none>");
  EXPECT_EQ(matched(router, "GET", "http://x/"), "<none>");
}

TEST(Router, TemplateWithVariableFirstSegmentIsAlwaysCandidate) {
  const Router router(with_routes({
      route("tenant", RouteMatch::path_template, "/{tenant}/orders"),
      route("root", RouteMatch::path_template, "/"),
  }));
  EXPECT_EQ(matched(router, "GET", "/acme/orders"), "tenant");
  EXPECT_EQ(matched(router, "GET", "/"), "root");
  EXPECT_EQ(matched(router, "GET", "/acme"), "<none>");
}

TEST(Router, LabelsAreThePatternAndPrefixesEndInStar) {
  const Router router(with_routes({
      route("order", RouteMatch::path_template, "/api/orders/{id}"),
      route("search", RouteMatch::exact, "/api/search"),
      route("static", RouteMatch::prefix, "/static/"),
  }));
  ASSERT_EQ(router.routes().size(), 3u);
  EXPECT_EQ(router.routes()[0].label, "/api/orders/{id}");
  EXPECT_EQ(router.routes()[1].label, "/api/search");
  EXPECT_EQ(router.routes()[2].label, "/static/*");
  for (std::uint32_t i = 0; i < 3; ++i) EXPECT_EQ(router.routes()[i].index, i);
  EXPECT_EQ(router.routes()[2].match, RouteMatch::prefix);
}

TEST(Router, RouteTimeoutsOverrideTheGlobalOnes) {
  Config config =
      with_routes({route("slow", RouteMatch::exact, "/slow"), route("plain", RouteMatch::exact, "/")});
  config.routes[0].request_timeout = 30s;
  config.routes[0].upstream_response_timeout = 0s;  // explicitly off for this route
  config.timeouts.request = 5s;
  config.timeouts.upstream_response = 7s;
  const Router router(config);
  EXPECT_EQ(router.routes()[0].request_timeout, 30s);
  EXPECT_EQ(router.routes()[0].upstream_response_timeout, 0s);
  EXPECT_EQ(router.routes()[1].request_timeout, 5s);
  EXPECT_EQ(router.routes()[1].upstream_response_timeout, 7s);
}

TEST(Router, InvalidPatternNeverMatches) {
  const Router router(with_routes({
      route("broken", RouteMatch::path_template, "/a/{id}.json"),
      route("broken-prefix", RouteMatch::prefix, "nope"),
      route("fallback", RouteMatch::prefix, "/"),
  }));
  EXPECT_EQ(matched(router, "GET", "/a/{id}.json"), "fallback");
  EXPECT_EQ(matched(router, "GET", "/a/1"), "fallback");
}

TEST(Router, NoRoutesMatchesNothing) {
  const Router router{Config{}};
  EXPECT_TRUE(router.routes().empty());
  EXPECT_EQ(router.match("GET", "/"), nullptr);
}

// The router indexes routes to avoid scanning them all; this checks it against the obvious linear scan.
struct LinearScan {
  explicit LinearScan(const Config& config) : config(config) {
    std::string error;
    for (const RouteConfig& r : config.routes) {
      templates.push_back(r.match == RouteMatch::path_template ? RouteTemplate::parse(r.pattern, error)
                                                               : std::nullopt);
    }
  }
  const RouteConfig* match(std::string_view method, std::string_view path) const {
    path = path.substr(0, path.find('?'));
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
      const RouteConfig& r = config.routes[i];
      if (!r.methods.empty() && std::find(r.methods.begin(), r.methods.end(), method) == r.methods.end())
        continue;
      const bool hit = r.match == RouteMatch::exact    ? path == r.pattern
                       : r.match == RouteMatch::prefix ? path.starts_with(r.pattern)
                                                       : templates[i]->matches(path);
      if (hit) return &r;
    }
    return nullptr;
  }
  const Config& config;
  std::vector<std::optional<RouteTemplate>> templates;
};

TEST(Router, AgreesWithALinearScanOnHundredsOfRandomRoutes) {
  std::mt19937 random(12345);
  std::vector<std::string> words = {"api", "v1", "orders", "users", "cart", "static"};
  for (int i = 0; i < 14; ++i) words.push_back("w" + std::to_string(i));
  const std::vector<std::string> methods = {"GET", "POST", "PUT"};
  auto pick = [&](const auto& list) { return list[random() % list.size()]; };
  auto random_path = [&](bool allow_variables) {
    std::string path;
    const int segments = 1 + static_cast<int>(random() % 4);
    for (int s = 0; s < segments; ++s) {
      path += "/";
      path += allow_variables && random() % 4 == 0 ? "{v" + std::to_string(s) + "}" : pick(words);
    }
    if (random() % 4 == 0) path += "/";
    return path;
  };

  Config config;
  for (int i = 0; i < 300; ++i) {
    const auto kind = static_cast<RouteMatch>(random() % 3);
    std::string pattern = random_path(kind == RouteMatch::path_template);
    // Some prefixes end inside their last segment ("/api/ord"); none is so short that it takes everything.
    const std::size_t last_slash = pattern.rfind('/', pattern.size() - 2);
    if (kind == RouteMatch::prefix && last_slash > 0 && last_slash != std::string::npos &&
        random() % 3 == 0) {
      pattern = pattern.substr(0, last_slash + 2 + random() % (pattern.size() - last_slash - 1));
    }
    std::vector<std::string> route_methods;
    if (random() % 3 == 0) route_methods = {pick(methods)};
    config.routes.push_back(route("r" + std::to_string(i), kind, pattern, route_methods));
  }
  // Half the requests are built from a route's own pattern, so that many different routes get to win.
  auto request_path = [&]() {
    if (random() % 2 == 0) return random_path(false);
    std::string path;
    const std::string& pattern = pick(config.routes).pattern;
    for (std::size_t c = 0; c < pattern.size(); ++c) {
      if (pattern[c] != '{') {
        path += pattern[c];
        continue;
      }
      path += pick(words);  // a value for the variable
      c = pattern.find('}', c);
    }
    if (random() % 3 == 0) path += random() % 2 ? "/x" : "x";
    return path;
  };

  const Router router(config);
  const LinearScan expected_router(config);
  int hits = 0;
  std::set<std::string> winners;
  for (int i = 0; i < 10000; ++i) {
    std::string path = request_path();
    if (random() % 7 == 0) path += "?q=1";
    const std::string method = pick(methods);
    const RouteConfig* expected = expected_router.match(method, path);
    const Route* actual = router.match(method, path);
    hits += expected != nullptr;
    if (expected != nullptr) winners.insert(expected->name);
    ASSERT_EQ(actual == nullptr ? std::string("<none>") : actual->name,
              expected == nullptr ? std::string("<none>") : expected->name)
        << method << " " << path;
  }
  // Enough requests match, and miss, and enough different routes win, for the comparison to mean something.
  EXPECT_GT(hits, 3000);
  EXPECT_LT(hits, 9800);
  EXPECT_GT(winners.size(), 100u);
}

}  // namespace
}  // namespace apimeter
