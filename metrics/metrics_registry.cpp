// Scrape-time merge of the worker shards and everything built from it: the families (data model for both
// exposition formats), /stats and /routes. Runs on the control thread under mutex_, which workers never
// take; it reads shards only through atomics and published lists, and frees what shards retired.
#include "metrics/metrics_registry.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "metrics/hash.hpp"
#include "metrics/json_text.hpp"
#include "metrics/metric_names.hpp"
#include "metrics/process_metrics.hpp"
#include "metrics/route_templater.hpp"

namespace apimeter::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using Labels = std::vector<ClientMetric::Label>;

constexpr double kNever = std::numeric_limits<double>::infinity();
constexpr std::string_view kOtherValue = "_other";

// Per exported bucket, the latest exemplar any shard holds for the series.
using MergedExemplars = std::vector<std::optional<ExemplarData>>;

void merge_exemplars(MergedExemplars& into, const ExemplarSlots& slots) {
  const std::size_t n = slots.size();
  if (n == 0) return;
  if (into.size() < n) into.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    ExemplarData e;
    if (slots.read(k, e) && (!into[k] || into[k]->timestamp < e.timestamp)) into[k] = e;
  }
}

void merge_exemplars(MergedExemplars& into, const MergedExemplars& from) {
  if (into.size() < from.size()) into.resize(from.size());
  for (std::size_t k = 0; k < from.size(); ++k)
    if (from[k] && (!into[k] || into[k]->timestamp < from[k]->timestamp)) into[k] = from[k];
}

struct MergedRequest {
  RequestLabels labels;
  double created = kNever;
  BucketCounts duration;
  MergedExemplars exemplars;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
};

struct MergedRoute {
  std::string route;
  double created = kNever;
  BucketCounts upstream, ttfb, overhead, request_body, response_body;
  MergedExemplars upstream_exemplars;
};

std::string request_key(const RequestLabels& l) {
  std::string k;
  k.reserve(l.route.size() + l.error_type.size() + 24);
  k += l.route;
  k += '\x1f';
  k += method_label(l.method);
  k += '\x1f';
  k += network_protocol_version(l.version);
  k += '\x1f';
  k += std::to_string(l.status);
  k += '\x1f';
  k += l.error_type;
  for (const auto& e : l.extra) {
    k += '\x1f';
    k += e;
  }
  return k;
}

bool request_less(const MergedRequest& a, const MergedRequest& b) {
  const auto& x = a.labels;
  const auto& y = b.labels;
  return std::tie(x.route, x.method, x.version, x.status, x.error_type, x.extra) <
         std::tie(y.route, y.method, y.version, y.status, y.error_type, y.extra);
}

void add_into(MergedRequest& into, const MergedRequest& from) {
  into.created = std::min(into.created, from.created);
  into.duration.add(from.duration);
  merge_exemplars(into.exemplars, from.exemplars);
  into.received += from.received;
  into.sent += from.sent;
}

template <std::size_t N>
std::string hex_id(const std::array<std::uint8_t, N>& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[id[i] >> 4];
    out[2 * i + 1] = kDigits[id[i] & 0xf];
  }
  return out;
}

struct FamilyOut {
  MetricFamily family;
  FamilyExtras extras;
  explicit FamilyOut(const FamilyName& f) {
    family.name = std::string(f.name);
    family.help = std::string(f.help);
    family.type = f.type;
  }
  void push(ClientMetric metric, double created = std::numeric_limits<double>::quiet_NaN(),
            const MergedExemplars* exemplars = nullptr) {
    MetricExtras x;
    x.created = created;
    // Exemplars only when they line up with the buckets (they may not for a moment during a reload).
    if (exemplars != nullptr && !exemplars->empty() && exemplars->size() == metric.histogram.bucket.size()) {
      x.bucket_exemplars.resize(exemplars->size());
      for (std::size_t k = 0; k < exemplars->size(); ++k) {
        const auto& e = (*exemplars)[k];
        if (!e) continue;
        Exemplar out;
        out.trace_id = hex_id(e->trace_id);
        out.span_id = hex_id(e->span_id);
        out.value = e->value;
        out.timestamp = e->timestamp;
        x.bucket_exemplars[k] = std::move(out);
      }
    }
    family.metric.push_back(std::move(metric));
    extras.metrics.push_back(std::move(x));
  }
  void into(Exposition& e) {
    e.families.push_back(std::move(family));
    e.extras.push_back(std::move(extras));
  }
};

ClientMetric counter(Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  return m;
}

ClientMetric gauge(Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

ClientMetric histogram(Labels labels, const BucketCounts& h) {
  ClientMetric m;
  m.label = std::move(labels);
  const auto& bounds = h.layout->bounds();
  const std::uint64_t count = h.count();
  m.histogram.bucket.resize(bounds.size() + 1);
  for (std::size_t k = 0; k < bounds.size(); ++k) m.histogram.bucket[k] = {h.cumulative[k], bounds[k]};
  m.histogram.bucket.back() = {count, std::numeric_limits<double>::infinity()};
  m.histogram.sample_count = count;
  m.histogram.sample_sum = h.sum;
  return m;
}

Labels request_labels(const std::string& service, const RequestLabels& l, const std::vector<ExtraLabel>& extra) {
  Labels labels;
  labels.reserve(7);
  labels.push_back({"service", service});
  labels.push_back({"http_route", l.route});
  labels.push_back({"http_request_method", std::string(method_label(l.method))});
  labels.push_back({"network_protocol_version", std::string(network_protocol_version(l.version))});
  if (l.status != 0) labels.push_back({"http_response_status_code", std::to_string(l.status)});
  if (!l.error_type.empty()) labels.push_back({"error_type", l.error_type});
  for (std::size_t i = 0; i < extra.size() && i < l.extra.size(); ++i)
    if (!l.extra[i].empty()) labels.push_back({extra[i].label, l.extra[i]});
  return labels;
}

Labels route_labels(const std::string& service, const MergedRoute& r) {
  return {{"service", service}, {"http_route", r.route}};
}

// A learned template as a config route: unique variable names ({id}, {id_2}), `exact:` when it has none.
struct PasteableRoute {
  std::string key;    // "template" or "exact"
  std::string value;
  std::string name;
  bool valid = true;
};

PasteableRoute pasteable(std::string_view label) {
  PasteableRoute out;
  std::map<std::string, int, std::less<>> seen;
  bool variables = false;
  std::size_t pos = 1;
  out.value = "";
  std::string name_text;
  while (pos <= label.size()) {
    std::size_t end = label.find('/', pos);
    if (end == std::string_view::npos) end = label.size();
    std::string_view seg = label.substr(pos, end - pos);
    out.value += '/';
    if (seg.empty() && end < label.size()) out.valid = false;  // only a trailing empty segment is allowed
    if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
      variables = true;
      std::string var(seg.substr(1, seg.size() - 2));
      int n = ++seen[var];
      if (n > 1) var += "_" + std::to_string(n);
      out.value += "{" + var + "}";
      name_text += "_" + var;
    } else {
      out.value += seg;
      if (!seg.empty()) name_text += "_" + std::string(seg);
    }
    pos = end + 1;
  }
  out.key = variables ? "template" : "exact";
  std::string name = "learned";
  for (char c : name_text) name += (std::isalnum(static_cast<unsigned char>(c)) != 0) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '_';
  if (name.size() > 60) name.resize(60);
  out.name = name;
  return out;
}

}  // namespace

struct MetricsRegistry::Merged {
  std::shared_ptr<const MetricsSettings> settings;
  std::vector<MergedRequest> requests;
  std::vector<MergedRoute> routes;
  std::unordered_map<std::string, std::uint64_t> learned_counts;  // before the process-wide cap
  std::int64_t active_requests = 0;
  std::int64_t active_connections = 0;
  std::uint64_t connections_total = 0;
  std::array<std::uint64_t, kReclaimReasons> connections_reclaimed{};  // by ReclaimReason
  std::array<std::uint64_t, kTlsVersionLabels> tls_handshakes{};       // successes by TlsVersionLabel
  std::array<std::uint64_t, kTlsHandshakeFailures> tls_failures{};     // by TlsHandshakeFailure
  std::uint64_t tls_resumed = 0;
  std::array<std::uint64_t, kTlsVersionLabels> upstream_tls_handshakes{};
  std::uint64_t upstream_tls_resumed = 0;
  BucketCounts tls_handshake_duration;
  std::uint64_t pool_idle = 0;
  std::uint64_t pool_in_use = 0;
  std::uint64_t dropped = 0;
  std::uint64_t anonymous = 0;
  std::map<std::string, std::uint64_t> connect_errors;
  bool users = false;
  double distinct_users = 0;
};

MetricsRegistry::MetricsRegistry(unsigned workers, BuildInfo build, std::shared_ptr<const MetricsSettings> settings,
                                 MetricsClock clock)
    : clock_(std::move(clock)),
      build_(std::move(build)),
      budget_(settings->max_series),
      start_wall_(clock_.wall_seconds()),
      start_steady_(clock_.steady()),
      settings_(settings),
      last_reload_ok_(start_wall_) {
  workers_.reserve(std::max(workers, 1u));
  for (unsigned i = 0; i < std::max(workers, 1u); ++i)
    workers_.push_back(std::make_unique<WorkerMetrics>(settings, budget_, clock_));
}

MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::apply(std::shared_ptr<const MetricsSettings> settings) {
  if (!settings) return;
  std::lock_guard lock(mutex_);
  if (settings->extra_labels != settings_->extra_labels) extra_values_.clear();
  budget_.set_limit(settings->max_series);
  settings_ = std::move(settings);
}

void MetricsRegistry::reload_succeeded() {
  reloads_ok_.fetch_add(1, std::memory_order_relaxed);
  last_reload_ok_.store(clock_.wall_seconds(), std::memory_order_relaxed);
}

void MetricsRegistry::set_tls_source(std::function<TlsSample()> source) {
  std::lock_guard lock(mutex_);
  tls_source_ = std::move(source);
}

void MetricsRegistry::reload_failed() { reloads_failed_.fetch_add(1, std::memory_order_relaxed); }

MetricsRegistry::Merged MetricsRegistry::merge(Clock::time_point now) const {
  Merged m;
  m.settings = settings_;
  const MetricsSettings& s = *settings_;
  const std::unordered_set<std::string_view> configured(s.route_labels.begin(), s.route_labels.end());

  std::vector<ShardView*> views;
  for (const auto& w : workers_) {
    ShardView* v = w->current_view();
    // The worker published `v` after retiring these; no reader can reach them any more but us.
    v->previous.reset();
    v->retired_requests.clear();
    v->retired_routes.clear();
    v->retired_users.reset();
    views.push_back(v);
    m.active_requests += w->active_requests();
    m.active_connections += w->active_connections();
    m.connections_total += w->connections_total();
    for (std::size_t r = 0; r < kReclaimReasons; ++r)
      m.connections_reclaimed[r] += w->connections_reclaimed(static_cast<ReclaimReason>(r));
    for (std::size_t v = 0; v < kTlsVersionLabels; ++v)
      m.tls_handshakes[v] += w->tls_handshakes(static_cast<TlsVersionLabel>(v));
    for (std::size_t f = 0; f < kTlsHandshakeFailures; ++f)
      m.tls_failures[f] += w->tls_handshake_failures(static_cast<TlsHandshakeFailure>(f));
    m.tls_resumed += w->tls_resumed();
    for (std::size_t v = 0; v < kTlsVersionLabels; ++v)
      m.upstream_tls_handshakes[v] += w->upstream_tls_handshakes(static_cast<TlsVersionLabel>(v));
    m.upstream_tls_resumed += w->upstream_tls_resumed();
    m.tls_handshake_duration.add(w->tls_handshake_duration());
    m.pool_idle += w->pool_idle();
    m.pool_in_use += w->pool_in_use();
    m.dropped += w->series_dropped();
    w->for_each_connect_error([&](std::string_view type, std::uint64_t n) {
      if (n != 0) m.connect_errors[std::string(type)] += n;
    });
  }

  // Request series: merge by label values, then fold what the process-wide caps refuse into "_other".
  std::unordered_map<std::string, std::size_t> index;
  std::vector<MergedRequest> raw;
  for (ShardView* v : views) {
    v->requests.for_each([&](const RequestSeries& rs) {
      auto [it, fresh] = index.try_emplace(request_key(rs.labels), raw.size());
      if (fresh) {
        raw.emplace_back();
        raw.back().labels = rs.labels;
      }
      MergedRequest& r = raw[it->second];
      r.labels.learned = r.labels.learned && rs.labels.learned;
      r.created = std::min(r.created, rs.created);
      r.duration.add(rs.duration);
      merge_exemplars(r.exemplars, rs.duration_exemplars);
      r.received += rs.received_bytes.load(std::memory_order_relaxed);
      r.sent += rs.sent_bytes.load(std::memory_order_relaxed);
    });
  }
  for (auto& r : raw) {
    if (r.labels.learned && configured.contains(r.labels.route)) r.labels.learned = false;
    if (r.labels.learned) m.learned_counts[r.labels.route] += r.duration.count();
  }
  learned_routes_.update(m.learned_counts, s.max_learned_templates);
  extra_values_.resize(s.extra_labels.size());
  for (std::size_t i = 0; i < s.extra_labels.size(); ++i) {
    if (!s.extra_labels[i].allowed.empty()) continue;
    std::unordered_map<std::string, std::uint64_t> counts;
    for (const auto& r : raw)
      if (!r.labels.extra[i].empty() && r.labels.extra[i] != kOtherValue) counts[r.labels.extra[i]] += r.duration.count();
    extra_values_[i].update(counts, s.extra_labels[i].max_values);
  }
  index.clear();
  m.requests.reserve(raw.size());
  for (auto& r : raw) {
    if (r.labels.learned && !learned_routes_.admitted(r.labels.route)) {
      r.labels.route = kOtherRoute;
      r.labels.learned = false;
    }
    for (std::size_t i = 0; i < s.extra_labels.size() && i < kMaxExtraLabels; ++i) {
      auto& v = r.labels.extra[i];
      if (s.extra_labels[i].allowed.empty() && !v.empty() && v != kOtherValue && !extra_values_[i].admitted(v)) v = kOtherValue;
    }
    auto [it, fresh] = index.try_emplace(request_key(r.labels), m.requests.size());
    if (fresh) m.requests.push_back(std::move(r));
    else add_into(m.requests[it->second], r);
  }
  std::sort(m.requests.begin(), m.requests.end(), request_less);

  // Route series, folded with the same admission.
  std::unordered_map<std::string, std::size_t> route_index;
  for (ShardView* v : views) {
    v->routes.for_each([&](const RouteSeries& rs) {
      const bool learned = rs.learned && !configured.contains(rs.route);
      const std::string& route = learned && !learned_routes_.admitted(rs.route) ? std::string(kOtherRoute) : rs.route;
      auto [it, fresh] = route_index.try_emplace(route, m.routes.size());
      if (fresh) {
        m.routes.emplace_back();
        m.routes.back().route = route;
      }
      MergedRoute& r = m.routes[it->second];
      r.created = std::min(r.created, rs.created);
      r.upstream.add(rs.upstream_duration);
      merge_exemplars(r.upstream_exemplars, rs.upstream_exemplars);
      r.ttfb.add(rs.time_to_first_byte);
      r.overhead.add(rs.overhead);
      r.request_body.add(rs.request_body);
      r.response_body.add(rs.response_body);
    });
  }
  std::sort(m.routes.begin(), m.routes.end(), [](const MergedRoute& a, const MergedRoute& b) { return a.route < b.route; });

  // Users: merged sketches -> monotonic exported counters; windowed HyperLogLogs -> distinct estimate.
  m.users = s.user_source.kind != UserIdentitySource::Kind::none;
  if (m.users) {
    std::unordered_map<std::string, TopUsersExport::Candidate> candidates;
    std::vector<SpaceSaving::Entry> entries;
    std::uint64_t identified = 0;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      identified += workers_[i]->identified_requests();
      m.anonymous += workers_[i]->anonymous_requests();
      if (views[i]->users == nullptr) continue;
      entries.clear();
      views[i]->users->snapshot(entries);
      for (auto& e : entries) {
        auto& c = candidates[e.key];
        c.count += e.count;
        c.error += e.error;
        c.in_flight += e.in_flight;
      }
    }
    std::vector<TopUsersExport::Candidate> list;
    list.reserve(candidates.size());
    for (auto& [user, c] : candidates) {
      c.user = user;
      list.push_back(std::move(c));
    }
    users_.update(std::move(list), identified, s.top_users, clock_.wall_seconds());
    auto hll = std::make_unique<HyperLogLog>();
    for (const auto& w : workers_) w->recent_users().merge_into(*hll, now);
    m.distinct_users = hll->estimate();
  }
  return m;
}

std::vector<MetricFamily> MetricsRegistry::Collect() const { return collect_exposition().families; }

Exposition MetricsRegistry::collect_exposition() const {
  std::lock_guard lock(mutex_);
  const Merged m = merge(clock_.steady());
  const MetricsSettings& s = *m.settings;
  const std::string& service = s.service;
  Exposition e;
  e.families.reserve(32);
  e.extras.reserve(32);

  {
    FamilyOut f(families::kServerDuration);
    for (const auto& r : m.requests) f.push(histogram(request_labels(service, r.labels, s.extra_labels), r.duration), r.created, &r.exemplars);
    f.into(e);
  }
  {
    FamilyOut received(families::kReceivedBytes), sent(families::kSentBytes);
    for (const auto& r : m.requests) {
      received.push(counter(request_labels(service, r.labels, s.extra_labels), static_cast<double>(r.received)), r.created);
      sent.push(counter(request_labels(service, r.labels, s.extra_labels), static_cast<double>(r.sent)), r.created);
    }
    received.into(e);
    sent.into(e);
  }
  {
    FamilyOut client(families::kClientDuration), ttfb(families::kTimeToFirstByte), overhead(families::kOverhead),
        request_body(families::kRequestBody), response_body(families::kResponseBody);
    for (const auto& r : m.routes) {
      // Routes never relayed upstream (local replies only) have no upstream observations: no series.
      if (!r.upstream.empty() && r.upstream.count() != 0) client.push(histogram(route_labels(service, r), r.upstream), r.created, &r.upstream_exemplars);
      if (!r.ttfb.empty() && r.ttfb.count() != 0) ttfb.push(histogram(route_labels(service, r), r.ttfb), r.created);
      overhead.push(histogram(route_labels(service, r), r.overhead), r.created);
      request_body.push(histogram(route_labels(service, r), r.request_body), r.created);
      response_body.push(histogram(route_labels(service, r), r.response_body), r.created);
    }
    client.into(e);
    ttfb.into(e);
    overhead.into(e);
    request_body.into(e);
    response_body.into(e);
  }
  const Labels svc{{"service", service}};
  {
    FamilyOut f(families::kActiveRequests);
    f.push(gauge(svc, static_cast<double>(std::max<std::int64_t>(m.active_requests, 0))));
    f.into(e);
  }
  {
    FamilyOut f(families::kActiveConnections);
    f.push(gauge(svc, static_cast<double>(std::max<std::int64_t>(m.active_connections, 0))));
    f.into(e);
  }
  {
    FamilyOut f(families::kConnectionsTotal);
    f.push(counter(svc, static_cast<double>(m.connections_total)), start_wall_);
    f.into(e);
  }
  {
    FamilyOut f(families::kConnectionsReclaimed);
    for (std::size_t r = 0; r < kReclaimReasons; ++r)
      f.push(counter({{"service", service}, {"reason", std::string(kReclaimReasonLabels[r])}},
                     static_cast<double>(m.connections_reclaimed[r])),
             start_wall_);
    f.into(e);
  }
  // TLS families while the listener serves TLS, or once it has (a reload may have turned it off).
  const TlsSample tls = tls_source_ ? tls_source_() : TlsSample{};
  if (tls.listener || m.tls_handshake_duration.count() != 0 ||
      std::accumulate(m.tls_failures.begin(), m.tls_failures.end(), std::uint64_t{0}) != 0) {
    FamilyOut handshakes(families::kTlsHandshakes);
    for (std::size_t v = 0; v < kTlsVersionLabels; ++v)
      handshakes.push(counter({{"service", service},
                               {"result", "success"},
                               {"tls_protocol_version", std::string(kTlsVersionLabelValues[v])}},
                              static_cast<double>(m.tls_handshakes[v])),
                      start_wall_);
    for (std::size_t f = 0; f < kTlsHandshakeFailures; ++f)
      handshakes.push(counter({{"service", service},
                               {"result", "failure"},
                               {"error_type", std::string(kTlsHandshakeFailureLabels[f])}},
                              static_cast<double>(m.tls_failures[f])),
                      start_wall_);
    handshakes.into(e);
    FamilyOut resumed(families::kTlsResumed);
    resumed.push(counter(svc, static_cast<double>(m.tls_resumed)), start_wall_);
    resumed.into(e);
    FamilyOut duration(families::kTlsHandshakeDuration);
    duration.push(histogram(svc, m.tls_handshake_duration), start_wall_);
    duration.into(e);
  }
  if (tls.listener) {
    FamilyOut f(families::kTlsCertificateExpiry);
    f.push(gauge(svc, tls.certificate_not_after - clock_.wall_seconds()));
    f.into(e);
  }
  // Upstream TLS families while the upstreams are reached over TLS, or once they have been.
  if (tls.upstream || m.upstream_tls_resumed != 0 ||
      std::accumulate(m.upstream_tls_handshakes.begin(), m.upstream_tls_handshakes.end(), std::uint64_t{0}) !=
          0) {
    FamilyOut handshakes(families::kUpstreamTlsHandshakes);
    for (std::size_t v = 0; v < kTlsVersionLabels; ++v)
      handshakes.push(
          counter({{"service", service}, {"tls_protocol_version", std::string(kTlsVersionLabelValues[v])}},
                  static_cast<double>(m.upstream_tls_handshakes[v])),
          start_wall_);
    handshakes.into(e);
    FamilyOut resumed(families::kUpstreamTlsResumed);
    resumed.push(counter(svc, static_cast<double>(m.upstream_tls_resumed)), start_wall_);
    resumed.into(e);
  }
  {
    FamilyOut f(families::kConnectionsLimit);
    f.push(gauge(svc, static_cast<double>(connection_limit_.load(std::memory_order_relaxed))));
    f.into(e);
  }
  if (access_log_source_) {
    FamilyOut f(families::kAccessLogDropped);
    f.push(counter(svc, static_cast<double>(access_log_source_())), start_wall_);
    f.into(e);
  }
  {
    FamilyOut f(families::kUpstreamConnections);
    f.push(gauge({{"service", service}, {"http_connection_state", "idle"}}, static_cast<double>(m.pool_idle)));
    f.push(gauge({{"service", service}, {"http_connection_state", "active"}}, static_cast<double>(m.pool_in_use)));
    f.into(e);
  }
  {
    FamilyOut f(families::kConnectErrors);
    for (const auto& [type, n] : m.connect_errors)
      f.push(counter({{"service", service}, {"error_type", type}}, static_cast<double>(n)), start_wall_);
    f.into(e);
  }
  if (m.users) {
    auto exported = [&](const std::string& user) {
      char scratch[kExportedUserIdBytes];
      return std::string(exported_user_id(user, s, scratch));
    };
    FamilyOut requests(families::kUserRequests), active(families::kUserActive);
    for (const auto& row : users_.rows()) {
      Labels labels{{"service", service}, {"user", exported(row.user)}};
      requests.push(counter(labels, static_cast<double>(row.requests)), row.created);
      active.push(gauge(std::move(labels), static_cast<double>(std::max<std::int64_t>(row.in_flight, 0))));
    }
    requests.push(counter({{"service", service}, {"user", "_other"}}, static_cast<double>(users_.other())), start_wall_);
    requests.push(counter({{"service", service}, {"user", "_none"}}, static_cast<double>(m.anonymous)), start_wall_);
    requests.into(e);
    active.into(e);
    FamilyOut distinct(families::kDistinctUsers);
    distinct.push(gauge(svc, std::round(m.distinct_users)));
    distinct.into(e);
  }
  {
    FamilyOut f(families::kSeriesDropped);
    f.push(counter(svc, static_cast<double>(m.dropped)), start_wall_);
    f.into(e);
  }
  {
    FamilyOut f(families::kLearnedRoutes);
    f.push(gauge(svc, static_cast<double>(learned_routes_.size())));
    f.into(e);
  }

  const ProcessSample p = read_process_sample();
  auto process_gauge = [&](const FamilyName& name, double value) {
    FamilyOut f(name);
    f.push(gauge({}, value));
    f.into(e);
  };
  {
    FamilyOut f(families::kCpu);
    f.push(counter({}, p.cpu_seconds));
    f.into(e);
  }
  process_gauge(families::kResident, p.resident_bytes);
  process_gauge(families::kVirtual, p.virtual_bytes);
  process_gauge(families::kOpenFds, p.open_fds);
  if (p.max_fds > 0) process_gauge(families::kMaxFds, p.max_fds);
  process_gauge(families::kStartTime, p.start_time_seconds > 0 ? p.start_time_seconds : start_wall_);
  {
    FamilyOut f(families::kBuildInfo);
    f.extras.info = true;
    f.push(gauge({{"version", build_.version}, {"revision", build_.revision}}, 1.0));
    f.into(e);
  }
  {
    FamilyOut f(families::kReloads);
    f.push(counter({{"result", "success"}}, static_cast<double>(reloads_ok_.load(std::memory_order_relaxed))), start_wall_);
    f.push(counter({{"result", "failure"}}, static_cast<double>(reloads_failed_.load(std::memory_order_relaxed))), start_wall_);
    f.into(e);
  }
  process_gauge(families::kLastReload, last_reload_ok_.load(std::memory_order_relaxed));

  if (tracing_source_) {
    const TracingExportSample t = tracing_source_();
    {
      FamilyOut f(families::kTracingSpansExported);
      f.push(counter(svc, static_cast<double>(t.spans_exported)), start_wall_);
      f.into(e);
    }
    {
      FamilyOut f(families::kTracingSpansDropped);
      const std::pair<const char*, std::uint64_t> reasons[] = {{"queue_full", t.dropped_queue_full},
                                                               {"export_failed", t.dropped_export_failed},
                                                               {"rejected", t.dropped_rejected},
                                                               {"shutdown", t.dropped_shutdown}};
      for (const auto& [reason, n] : reasons)
        f.push(counter({{"service", service}, {"reason", reason}}, static_cast<double>(n)), start_wall_);
      f.into(e);
    }
    {
      FamilyOut f(families::kTracingExportRequests);
      const std::pair<const char*, std::uint64_t> results[] = {
          {"success", t.requests_success}, {"retryable_error", t.requests_retryable}, {"error", t.requests_error}};
      for (const auto& [result, n] : results)
        f.push(counter({{"service", service}, {"result", result}}, static_cast<double>(n)), start_wall_);
      f.into(e);
    }
    {
      FamilyOut f(families::kTracingExportDuration);
      ClientMetric m;
      m.label = svc;
      std::uint64_t cumulative = 0;
      for (std::size_t k = 0; k < t.duration_bounds.size() && k < t.duration_buckets.size(); ++k) {
        cumulative += t.duration_buckets[k];
        m.histogram.bucket.push_back({cumulative, t.duration_bounds[k]});
      }
      if (t.duration_buckets.size() > t.duration_bounds.size()) cumulative += t.duration_buckets.back();
      m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
      m.histogram.sample_count = cumulative;
      m.histogram.sample_sum = t.duration_sum;
      f.push(std::move(m), start_wall_);
      f.into(e);
    }
    {
      FamilyOut f(families::kTracingQueue);
      f.push(gauge(svc, static_cast<double>(t.queued)));
      f.into(e);
    }
  }
  return e;
}

void MetricsRegistry::set_tracing_source(std::function<TracingExportSample()> source) {
  std::lock_guard lock(mutex_);
  tracing_source_ = std::move(source);
}

void MetricsRegistry::set_access_log_source(std::function<std::uint64_t()> dropped_lines) {
  std::lock_guard lock(mutex_);
  access_log_source_ = std::move(dropped_lines);
}

StatsSnapshot MetricsRegistry::snapshot_of(const Merged& m, Clock::time_point at) const {
  // Full resolution per route for the quantiles: a pass over the shards' request series, folded with the
  // admission decisions merge() just made. Only /stats and tick() pay for it, never /metrics.
  const std::unordered_set<std::string_view> configured(m.settings->route_labels.begin(), m.settings->route_labels.end());
  struct RouteTotals {
    std::uint64_t errors = 0, received = 0, sent = 0;
    HistogramData latency;
  };
  std::map<std::string, RouteTotals, std::less<>> routes;
  for (const auto& w : workers_) {
    w->current_view()->requests.for_each([&](const RequestSeries& rs) {
      const bool learned = rs.labels.learned && !configured.contains(rs.labels.route);
      const std::string& route = learned && !learned_routes_.admitted(rs.labels.route) ? std::string(kOtherRoute) : rs.labels.route;
      RouteTotals& r = routes[route];
      const std::uint64_t before = r.latency.count();
      r.latency.add(rs.duration);
      if (rs.labels.status >= 500) r.errors += r.latency.count() - before;
      r.received += rs.received_bytes.load(std::memory_order_relaxed);
      r.sent += rs.sent_bytes.load(std::memory_order_relaxed);
    });
  }
  StatsSnapshot snap;
  snap.at = at;
  for (const auto& [route, r] : routes) {
    snap.routes[route].add(r.latency.count(), r.errors, r.received, r.sent, r.latency);
    snap.all.add(r.latency.count(), r.errors, r.received, r.sent, r.latency);
  }
  if (m.users)
    for (const auto& row : users_.rows()) snap.users[row.user] = row.requests;
  return snap;
}

void MetricsRegistry::tick(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const Merged m = merge(now);
  window_.add(snapshot_of(m, now));
}

void MetricsRegistry::set_upstream_source(std::function<std::vector<UpstreamEndpointSample>()> source) {
  std::lock_guard lock(mutex_);
  upstream_source_ = std::move(source);
}

std::string MetricsRegistry::stats_json(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  const Merged m = merge(now);
  const StatsSnapshot current = snapshot_of(m, now);
  const StatsSnapshot* base = window_.baseline(now);
  const double seconds = std::chrono::duration<double>(now - (base ? base->at : start_steady_)).count();
  auto before = [&](std::string_view route) -> const WindowSample* {
    if (!base) return nullptr;
    auto it = base->routes.find(route);
    return it == base->routes.end() ? nullptr : &it->second;
  };

  std::string out;
  out.reserve(2048 + current.routes.size() * 400);
  auto field = [&](std::string_view name) {
    if (out.back() != '{' && out.back() != '[') out += ',';
    append_json_string(out, name);
    out += ':';
  };
  auto number = [&](std::string_view name, double v) {
    field(name);
    append_json_number(out, v);
  };
  auto count = [&](std::string_view name, std::uint64_t v) {
    field(name);
    append_json_uint(out, v);
  };
  auto gauge = [&](std::string_view name, std::int64_t v) { count(name, static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0))); };
  auto open = [&](std::string_view name, char bracket) {
    field(name);
    out += bracket;
  };
  auto live_fields = [&](const LiveStats& l) {
    number("rate", l.rate);
    number("error_ratio", l.error_ratio);
    number("received_bytes_rate", l.received_rate);
    number("sent_bytes_rate", l.sent_rate);
    number("p50_seconds", l.p50);
    number("p95_seconds", l.p95);
    number("p99_seconds", l.p99);
  };
  auto totals = [&](const WindowSample& w) {
    count("requests_total", w.requests);
    count("errors_5xx_total", w.errors);
    count("received_bytes_total", w.received);
    count("sent_bytes_total", w.sent);
  };
  out += '{';
  count("version", kStatsVersion);
  field("service");
  append_json_string(out, m.settings->service);
  number("uptime_seconds", std::chrono::duration<double>(now - start_steady_).count());
  number("window_seconds", seconds);
  totals(current.all);
  gauge("active_requests", m.active_requests);
  gauge("client_connections_active", m.active_connections);
  count("client_connections_total", m.connections_total);
  count("client_connections_reclaimed_total",
        std::accumulate(m.connections_reclaimed.begin(), m.connections_reclaimed.end(), std::uint64_t{0}));
  count("client_connections_limit", connection_limit_.load(std::memory_order_relaxed));
  open("upstream_connections", '{');
  count("idle", m.pool_idle);
  count("active", m.pool_in_use);
  out += '}';
  open("upstream_connect_errors", '{');
  for (const auto& [type, n] : m.connect_errors)
    if (n) count(type, n);
  out += '}';
  open("upstream_endpoints", '[');
  if (upstream_source_) {
    for (const auto& e : upstream_source_()) {
      if (out.back() != '[') out += ',';
      out += '{';
      field("endpoint");
      append_json_string(out, e.endpoint);
      field("upstream");
      append_json_string(out, e.upstream);
      count("attempts_total", e.attempts);
      count("connections_opened_total", e.connects);
      count("connect_errors_total", e.connect_errors);
      out += '}';
    }
  }
  out += ']';
  open("series", '{');
  count("active", budget_.size());
  count("limit", budget_.limit());
  count("dropped_total", m.dropped);
  out += '}';
  open("learned_routes", '{');
  count("admitted", learned_routes_.size());
  count("limit", m.settings->max_learned_templates);
  out += '}';
  if (tracing_source_) {
    const TracingExportSample t = tracing_source_();
    open("tracing", '{');
    field("enabled");
    out += t.enabled ? "true" : "false";
    count("spans_exported_total", t.spans_exported);
    count("spans_dropped_total", t.dropped_queue_full + t.dropped_export_failed + t.dropped_rejected + t.dropped_shutdown);
    count("export_requests_failed_total", t.requests_retryable + t.requests_error);
    count("export_requests_total", t.requests_success + t.requests_retryable + t.requests_error);
    count("queued_spans", t.queued);
    out += '}';
  }
  open("last_minute", '{');
  live_fields(live_stats(current.all, base ? &base->all : nullptr, seconds));
  out += '}';

  // Heaviest routes of the window first.
  std::vector<std::pair<LiveStats, const std::string*>> routes;
  for (const auto& [route, sample] : current.routes) routes.emplace_back(live_stats(sample, before(route), seconds), &route);
  std::sort(routes.begin(), routes.end(), [](const auto& a, const auto& b) {
    return a.first.requests != b.first.requests ? a.first.requests > b.first.requests : *a.second < *b.second;
  });
  open("routes", '[');
  for (const auto& [live, route] : routes) {
    if (out.back() != '[') out += ',';
    out += '{';
    field("route");
    append_json_string(out, *route);
    totals(current.routes.at(*route));
    live_fields(live);
    out += '}';
  }
  out += ']';
  if (m.users) {
    open("users", '{');
    number("distinct_last_minute", std::round(m.distinct_users));
    open("top", '[');
    std::vector<const TopUsersExport::Row*> rows;
    for (const auto& r : users_.rows()) rows.push_back(&r);
    std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->requests != b->requests ? a->requests > b->requests : a->user < b->user; });
    for (const auto* r : rows) {
      if (out.back() != '[') out += ',';
      out += '{';
      field("user");
      char scratch[kExportedUserIdBytes];
      append_json_string(out, exported_user_id(r->user, *m.settings, scratch));
      count("requests_total", r->requests);
      // A user listed after the window began is measured from zero then: an upper bound, like its count.
      std::uint64_t earlier = 0;
      if (base) {
        auto it = base->users.find(r->user);
        if (it != base->users.end()) earlier = std::min(it->second, r->requests);
      }
      number("rate", seconds > 0 ? static_cast<double>(r->requests - earlier) / seconds : 0.0);
      gauge("active_requests", r->in_flight);
      field("listed");
      out += r->listed ? "true" : "false";
      out += '}';
    }
    out += ']';
    count("other_requests_total", users_.other());
    count("anonymous_requests_total", m.anonymous);
    out += '}';
  }
  out += "}\n";
  return out;
}

std::string MetricsRegistry::routes_report() const {
  std::lock_guard lock(mutex_);
  const Merged m = merge(clock_.steady());
  const MetricsSettings& s = *m.settings;
  std::map<std::string, std::uint64_t, std::less<>> counts;
  for (const auto& r : m.requests) counts[r.labels.route] += r.duration.count();

  std::string out = fmt::format("# apimeter routes report for service \"{}\"\n", s.service);
  out += "# Configured routes: http_route and requests since start.\n";
  std::set<std::string_view> listed;
  for (const auto& label : s.route_labels) {
    if (!listed.insert(label).second) continue;
    auto it = counts.find(label);
    out += fmt::format("#   {:<50} {}\n", label, it == counts.end() ? 0 : it->second);
  }
  std::vector<std::pair<std::uint64_t, std::string_view>> learned, folded;
  for (const auto& [label, n] : m.learned_counts)
    (learned_routes_.admitted(label) ? learned : folded).emplace_back(n, label);
  std::sort(learned.begin(), learned.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  auto other = counts.find(kOtherRoute);
  out += fmt::format(
      "# Learned templates of unmatched paths: {} with their own http_route (cap {}); {} more templates and\n"
      "# untemplatable paths are counted as http_route=\"_other\" ({} requests).\n",
      learned.size(), s.max_learned_templates, folded.size(), other == counts.end() ? 0 : other->second);
  out += "# Paste the entries you want to keep under `routes:` in the config (names are suggestions):\n";
  if (learned.empty()) {
    out += "routes: []\n";
    return out;
  }
  out += "routes:\n";
  std::set<std::string> names;
  for (const auto& [n, label] : learned) {
    PasteableRoute route = pasteable(label);
    if (!route.valid) {
      out += fmt::format("  # not pasteable (empty path segment): {}  # {} requests\n", label, n);
      continue;
    }
    std::string name = route.name;
    for (int i = 2; !names.insert(name).second; ++i) name = route.name + "_" + std::to_string(i);
    out += fmt::format("  - name: {}  # {} requests\n    {}: {}\n", name, n, route.key, route.value);
  }
  return out;
}

}  // namespace apimeter::metrics
