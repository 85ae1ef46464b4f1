// The whole-config checks (validate_config in config_loader.hpp), run once the file, the environment and
// the flags are applied: an upstream exists, limits agree, addresses do not collide, routes are unique and
// none is shadowed by an earlier one, the metrics and user-identity settings fit together. Each problem
// points at where the setting came from.
#include "control/config_loader.hpp"

#include <algorithm>
#include <optional>

#include "control/config_checks.hpp"
#include "control/options.hpp"
#include "control/route_template.hpp"

namespace apimeter {
namespace {

// What every path a route matches is guaranteed to start with.
std::string_view guaranteed_prefix(const RouteConfig& route, const std::optional<RouteTemplate>& parsed) {
  if (route.match != RouteMatch::path_template) return route.pattern;
  std::string_view prefix = parsed->literal_prefix();
  // "/a/" (no variable) also matches "/a": its trailing slash is optional, so it guarantees only "/a".
  if (prefix.size() == route.pattern.size() && parsed->trailing_slash()) prefix.remove_suffix(1);
  return prefix;
}

bool methods_cover(const std::vector<std::string>& earlier, const std::vector<std::string>& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  return std::all_of(later.begin(), later.end(), [&](const std::string& method) {
    return std::find(earlier.begin(), earlier.end(), method) != earlier.end();
  });
}

// Whether route `earlier` matches every (method, path) that `later` matches. Conservative: false when
// unsure, so the diagnostic is never wrong, only sometimes missing.
bool shadows(const RouteConfig& earlier, const std::optional<RouteTemplate>& earlier_template,
             const RouteConfig& later, const std::optional<RouteTemplate>& later_template) {
  if (!methods_cover(earlier.methods, later.methods)) return false;
  switch (earlier.match) {
    case RouteMatch::prefix:
      return guaranteed_prefix(later, later_template).starts_with(earlier.pattern);
    case RouteMatch::exact:
      return later.match == RouteMatch::exact && later.pattern == earlier.pattern;
    case RouteMatch::path_template:
      if (later.match == RouteMatch::exact) return earlier_template->matches(later.pattern);
      if (later.match == RouteMatch::path_template) return earlier_template->covers(*later_template);
      return false;
  }
  return false;
}

bool is_wildcard(std::string_view host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}
bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}
bool is_ipv4(std::string_view host) {
  return !host.empty() &&
         std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// Whether binding both addresses would collide: same port, and one host's addresses include the other's.
bool binds_overlap(const HostPort& a, const HostPort& b) {
  if (a.port == 0 || a.port != b.port) return false;
  if (a.host == b.host || a.host == "::" || b.host == "::") return true;  // "::" is dual-stack on Linux
  if (a.host == "0.0.0.0") return is_ipv4(b.host) || b.host == "localhost";
  if (b.host == "0.0.0.0") return is_ipv4(a.host) || a.host == "localhost";
  return false;
}

// Whether connecting to `upstream` would reach our own `listen` socket.
bool reaches(const HostPort& upstream, const HostPort& listen) {
  if (listen.port == 0 || upstream.port != listen.port) return false;
  if (upstream.host == listen.host) return true;
  return is_wildcard(listen.host) && (is_loopback(upstream.host) || is_wildcard(upstream.host));
}

std::string setting_name(std::string_view flag) {
  const OptionRow* option = find_option_by_flag(flag);
  return option && !option->yaml_path.empty() ? std::string(option->yaml_path) : std::string(flag);
}

// One extra label's own fields, for labels built in code (the loader checks and drops bad ones itself).
std::vector<std::string> extra_label_problems(const ExtraLabelConfig& label) {
  std::vector<std::string> out;
  std::string error;
  if (!check_label_name(label.name, error)) out.push_back(error);
  const bool key_ok = label.source == ExtraLabelSource::header ? check_header_name(label.key, error)
                                                               : check_query_name(label.key, error);
  if (!key_ok) out.push_back(error);
  if (label.values.empty() == (label.max_values == 0)) {
    out.push_back("needs exactly one of values (an allow-list) and max_values (a first-come cap)");
  } else if (label.values.empty() && !check_max_values(label.max_values, error)) {
    out.push_back("max_values " + error);
  } else if (label.values.size() > defaults::kMetricsMaxExtraLabelValues) {
    out.push_back("values lists " + std::to_string(label.values.size()) + " values; at most " +
                  std::to_string(defaults::kMetricsMaxExtraLabelValues));
  }
  for (std::size_t i = 0; i < label.values.size(); ++i) {
    if (!check_label_value(label.values[i], error)) out.push_back(error);
    if (std::find(label.values.begin(), label.values.begin() + i, label.values[i]) !=
        label.values.begin() + i)
      out.push_back("value " + quote(label.values[i]) + " is listed twice");
  }
  return out;
}

void check_metrics(const Config& config, const SettingOrigins& origins, std::vector<Diagnostic>& problems) {
  const MetricsConfig& metrics = config.metrics;
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  std::string error;
  if (!check_bounds(metrics.duration_buckets, /*positive=*/true, error))
    report("metrics-duration-buckets", "metrics.duration_buckets: " + error);
  if (!check_bounds(metrics.size_buckets, /*positive=*/false, error))
    report("metrics-size-buckets", "metrics.size_buckets: " + error);
  if (metrics.max_series == 0 && !origins.rejected.contains("metrics-max-series")) {
    report("metrics-max-series",
           "metrics.max_series is 0: no request series could be exported; to record nothing, set "
           "metrics.enabled: false");
  }

  const std::vector<ExtraLabelConfig>& labels = metrics.extra_labels;
  auto line_note = [](const ExtraLabelConfig& label) {
    return label.where.line > 0 ? " (line " + std::to_string(label.where.line) + ")" : std::string();
  };
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const ExtraLabelConfig& label = labels[i];
    const std::string who =
        label.name.empty() ? "extra label #" + std::to_string(i + 1) : "extra label " + quote(label.name);
    for (std::string& message : extra_label_problems(label))
      problems.push_back(Diagnostic{label.where, who + ": " + message});
    for (std::size_t earlier = 0; earlier < i; ++earlier) {
      if (!label.name.empty() && labels[earlier].name == label.name) {
        problems.push_back(Diagnostic{label.where, "duplicate extra label name " + quote(label.name) +
                                                       ", first used" + line_note(labels[earlier])});
        break;
      }
    }
  }
  if (labels.size() > defaults::kMetricsMaxExtraLabels) {
    problems.push_back(Diagnostic{labels[defaults::kMetricsMaxExtraLabels].where,
                                  "metrics.extra_labels: " + std::to_string(labels.size()) +
                                      " extra labels; at most " +
                                      std::to_string(defaults::kMetricsMaxExtraLabels) +
                                      ", as each one multiplies the number of series"});
  }
}

void check_user_identity(const UserIdentityConfig& identity, const SettingOrigins& origins,
                         std::vector<Diagnostic>& problems) {
  // An invalid source was reported where it was given and left at none; checking the name against none
  // would only repeat that mistake.
  if (origins.rejected.contains("user-identity-source")) return;
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  std::string error;
  switch (identity.source) {
    case IdentitySource::none:
      if (!identity.name.empty()) {
        report("user-identity-name", "user_identity.name is " + quote(identity.name) +
                                         " but user_identity.source is none, so no user is identified; set "
                                         "the source too");
      }
      break;
    case IdentitySource::client_address:
    case IdentitySource::client_certificate:
      if (!identity.name.empty()) {
        report("user-identity-name",
               "user_identity.name means nothing for source " +
                   std::string(identity.source == IdentitySource::client_address ? "client_address"
                                                                                 : "client_certificate") +
                   "; leave it empty");
      }
      break;
    case IdentitySource::header:
    case IdentitySource::api_key:
      if (!identity.name.empty() && !check_header_name(identity.name, error))
        report("user-identity-name", "user_identity.name: " + error);
      break;
    case IdentitySource::cookie:
      if (identity.name.empty()) {
        report("user-identity-source",
               "user_identity.source is cookie but user_identity.name is empty: name the cookie that "
               "holds the user id");
      } else if (!check_cookie_name(identity.name, error)) {
        report("user-identity-name", "user_identity.name: " + error);
      }
      break;
    case IdentitySource::jwt_claim:
      break;  // any claim name; empty means sub
  }
}

// The files themselves are read when the snapshot is built; here only what belongs together.
void check_tls(const TlsConfig& tls, const UserIdentityConfig& identity, const SettingOrigins& origins,
               std::vector<Diagnostic>& problems) {
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  if (tls.cert_file.empty() != tls.key_file.empty())
    report(tls.cert_file.empty() ? "tls-key-file" : "tls-cert-file",
           "tls.cert_file and tls.key_file go together: set both to serve HTTPS, or neither");
  if (!tls.client_ca_file.empty() && !tls.enabled())
    report("tls-client-ca-file",
           "tls.client_ca_file is set but tls.cert_file is not: client certificates "
           "need a TLS listener");
  if (tls.enabled() && tls.ciphers.empty())
    report("tls-ciphers", "tls.ciphers is empty: no TLS 1.2 client could connect; remove it for the default");
  if (identity.source == IdentitySource::client_certificate && tls.client_ca_file.empty() &&
      !origins.rejected.contains("user-identity-source"))
    report("user-identity-source",
           "user_identity.source is client_certificate but tls.client_ca_file is not "
           "set, so no client presents a certificate");
}

void check_upstream_tls(const UpstreamTlsConfig& tls, const SettingOrigins& origins,
                        std::vector<Diagnostic>& problems) {
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  if (tls.cert_file.empty() != tls.key_file.empty())
    report(tls.cert_file.empty() ? "upstream-tls-key-file" : "upstream-tls-cert-file",
           "upstream_tls.cert_file and upstream_tls.key_file go together: set both to present a client "
           "certificate, or neither");
  if (!tls.verify && !tls.ca_file.empty())
    report("upstream-tls-ca-file",
           "upstream_tls.ca_file is set but upstream_tls.verify is false: nothing is checked against it");
  if (tls.enabled) return;
  // Settings of a TLS client that is not used: most likely upstream_tls.enabled was forgotten.
  auto unused = [&](std::string_view flag, const std::string& value, std::string_view name) {
    if (!value.empty())
      report(flag, std::string(name) +
                       " is set but upstream_tls.enabled is false: the upstreams are reached in "
                       "cleartext");
  };
  unused("upstream-tls-ca-file", tls.ca_file, "upstream_tls.ca_file");
  unused("upstream-tls-server-name", tls.server_name, "upstream_tls.server_name");
  unused("upstream-tls-cert-file", tls.cert_file, "upstream_tls.cert_file");
}

}  // namespace

std::vector<Diagnostic> validate_config(const Config& config, const SettingOrigins& origins) {
  std::vector<Diagnostic> problems;
  auto report = [&](std::string_view flag, std::string message) {
    problems.push_back(Diagnostic{origins.find(flag), std::move(message)});
  };
  const Limits& limits = config.limits;

  if (config.upstreams.empty() && !origins.rejected.contains("upstream")) {
    report("upstream", "no upstream: set upstreams in the config file, --upstream or APIMETER_UPSTREAM");
  }
  if (config.service.empty() && !origins.rejected.contains("service")) {
    report("service", "service must not be empty: it names the API in every metric");
  }

  // A floor of 0 would turn a timeout off at the connection cap, exactly when connections are scarcest.
  const Timeouts& timeouts = config.timeouts;
  if (timeouts.client_header_floor.count() == 0)
    report("client-header-timeout-floor", "timeouts.client_header_floor is 0: under load silent connections would "
                                          "never time out; use at least 1ms (or limits.overload_start: 1 to keep "
                                          "timeouts as they are)");
  if (timeouts.client_idle_floor.count() == 0)
    report("client-idle-timeout-floor", "timeouts.client_idle_floor is 0: under load idle connections would never "
                                        "time out; use at least 1ms (or limits.overload_start: 1 to keep timeouts "
                                        "as they are)");

  const TracingConfig& tracing = config.tracing;
  if (tracing.max_batch_spans == 0) report("tracing-max-batch-spans", "tracing.max_batch_spans is 0: nothing could be sent; use at least 1");
  if (tracing.max_queue_spans < tracing.max_batch_spans)
    report("tracing-max-queue-spans", "tracing.max_queue_spans (" + std::to_string(tracing.max_queue_spans) +
                                          ") is smaller than tracing.max_batch_spans (" +
                                          std::to_string(tracing.max_batch_spans) + ")");
  if (tracing.export_timeout.count() == 0)
    report("tracing-export-timeout", "tracing.export_timeout is 0: every export would time out");
  if (tracing.retry_max_backoff < tracing.retry_initial_backoff)
    report("tracing-retry-max-backoff", "tracing.retry_max_backoff is shorter than tracing.retry_initial_backoff");

  struct NonZero {
    std::string_view flag;
    std::uint64_t value;
  };
  for (const NonZero& limit : {NonZero{"max-request-header-bytes", limits.max_request_header_bytes},
                               NonZero{"max-request-headers", limits.max_request_headers},
                               NonZero{"max-uri-bytes", limits.max_uri_bytes},
                               NonZero{"max-response-header-bytes", limits.max_response_header_bytes},
                               NonZero{"max-response-headers", limits.max_response_headers}}) {
    if (limit.value == 0)
      report(limit.flag, setting_name(limit.flag) + " is 0: no message could be read; use at least 1");
  }
  if (limits.max_uri_bytes > limits.max_request_header_bytes && limits.max_request_header_bytes > 0) {
    const bool uri_set = origins.by_flag.contains("max-uri-bytes");
    report(uri_set ? "max-uri-bytes" : "max-request-header-bytes",
           "limits contradict: max_uri_bytes (" + format_size(limits.max_uri_bytes) +
               ") is larger than max_request_header_bytes (" + format_size(limits.max_request_header_bytes) +
               "), which includes the request line");
  }

  if (binds_overlap(config.listen, config.admin)) {
    report(origins.by_flag.contains("admin") ? "admin" : "listen",
           "listen and admin both bind " + config.admin.to_string() + "; give them different ports");
  }
  for (const HostPort& upstream : config.upstreams) {
    if (reaches(upstream, config.listen)) {
      report("upstream", "upstream " + upstream.to_string() + " is this proxy's own listen address " +
                             config.listen.to_string() + ": every request would loop");
    }
  }

  if (config.unmatched_routes == UnmatchedRoutes::reject && config.routes.empty() &&
      !origins.rejected.contains("routes")) {
    report("unmatched-routes",
           "unmatched_routes is reject but there are no routes: every request would get 404");
  }

  check_metrics(config, origins, problems);
  check_user_identity(config.user_identity, origins, problems);
  check_tls(config.tls, config.user_identity, origins, problems);
  check_upstream_tls(config.upstream_tls, origins, problems);

  // Each route on its own, then names and shadowing among the well-formed ones.
  std::vector<std::optional<RouteTemplate>> templates(config.routes.size());
  std::vector<bool> well_formed(config.routes.size(), false);
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    const std::string who =
        route.name.empty() ? "route #" + std::to_string(i + 1) : "route " + quote(route.name);
    std::string error;
    bool ok = true;
    auto fail = [&](std::string message) {
      problems.push_back(Diagnostic{route.where, std::move(message)});
      ok = false;
    };
    if (!check_route_name(route.name, error)) fail(who + ": " + error);
    if (!check_pattern(route.match, route.pattern, error)) fail(who + ": " + error);
    for (std::size_t m = 0; m < route.methods.size(); ++m) {
      if (!check_method(route.methods[m], error)) fail(who + ": " + error);
      if (std::find(route.methods.begin(), route.methods.begin() + m, route.methods[m]) !=
          route.methods.begin() + m) {
        fail(who + ": method " + route.methods[m] + " is listed twice");
      }
    }
    if (!route.duration_buckets.empty() && !check_bounds(route.duration_buckets, /*positive=*/true, error))
      fail(who + ": buckets: " + error);
    if (route.match == RouteMatch::path_template) templates[i] = RouteTemplate::parse(route.pattern, error);
    well_formed[i] = ok;
  }

  auto line_note = [](const RouteConfig& route) {
    return route.where.line > 0 ? " (line " + std::to_string(route.where.line) + ")" : std::string();
  };
  for (std::size_t later = 0; later < config.routes.size(); ++later) {
    const RouteConfig& route = config.routes[later];
    for (std::size_t earlier = 0; earlier < later; ++earlier) {
      if (!route.name.empty() && config.routes[earlier].name == route.name) {
        problems.push_back(Diagnostic{route.where, "duplicate route name " + quote(route.name) +
                                                       ", first used" + line_note(config.routes[earlier])});
        break;
      }
    }
    if (!well_formed[later]) continue;
    for (std::size_t earlier = 0; earlier < later; ++earlier) {
      if (!well_formed[earlier]) continue;
      const RouteConfig& first = config.routes[earlier];
      if (shadows(first, templates[earlier], route, templates[later])) {
        problems.push_back(Diagnostic{route.where, "route " + quote(route.name) + " can never match: route " +
                                                       quote(first.name) + line_note(first) +
                                                       " matches every request it would"});
        break;
      }
    }
  }
  return problems;
}

}  // namespace apimeter
