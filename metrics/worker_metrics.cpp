// The worker's shard (see worker_metrics.hpp). record() is the hot path: method and route resolution, two
// hash lookups of small integer keys, six histogram observations and a few relaxed stores. New series are
// checked against the process-wide budget before anything is allocated, so a refused series costs no memory.
#include "metrics/worker_metrics.hpp"

#include <algorithm>
#include <chrono>

#include "metrics/hash.hpp"

namespace apimeter::metrics {
namespace {

constexpr std::uint8_t kErrorNone = 0;
constexpr std::uint8_t kErrorOther = 255;


bool happened(Clock::time_point t) noexcept { return t != Clock::time_point{}; }

// Fingerprints are computed from label values, not worker-local ids, so every worker agrees on them.
std::uint64_t request_fingerprint(std::string_view route, HttpMethod method, HttpVersion version,
                                  std::uint16_t status, std::string_view error,
                                  const std::array<std::string_view, kMaxExtraLabels>& extra) {
  std::uint64_t h = hash64(route, 0x7265717565737473ULL);  // "requests"
  h = hash_combine(h, static_cast<std::uint64_t>(method) | (static_cast<std::uint64_t>(status) << 8) |
                          (static_cast<std::uint64_t>(version) << 24));
  h = hash_combine(h, hash64(error));
  for (auto v : extra) h = hash_combine(h, hash64(v));
  return h;
}

std::uint64_t route_fingerprint(std::string_view route) {
  return hash64(route, 0x726f757465732121ULL);  // "routes!!"
}

}  // namespace

std::size_t WorkerMetrics::RequestKeyHash::operator()(const RequestKey& k) const noexcept {
  std::uint64_t a =
      k.route | (static_cast<std::uint64_t>(k.status) << 32) | (static_cast<std::uint64_t>(k.version) << 44) |
      (static_cast<std::uint64_t>(k.method) << 48) | (static_cast<std::uint64_t>(k.error) << 56);
  std::uint64_t b = 0;
  for (std::size_t i = 0; i < k.extra.size(); ++i) b |= static_cast<std::uint64_t>(k.extra[i]) << (8 * i);
  return static_cast<std::size_t>(hash_combine(a, b));
}

const LayoutPtr& tls_handshake_layout() {
  static const LayoutPtr layout = std::make_shared<const HistogramLayout>(
      kDurationScale, kNanosPerSecond,
      std::vector<double>(std::begin(kTlsHandshakeBuckets), std::end(kTlsHandshakeBuckets)));
  return layout;
}

WorkerMetrics::WorkerMetrics(std::shared_ptr<const MetricsSettings> settings, SeriesBudget& budget,
                             const MetricsClock& clock)
    : settings_(std::move(settings)),
      budget_(budget),
      clock_(clock),
      tls_handshake_duration_(tls_handshake_layout()) {
  connect_errors_.back().type = "_other";
  configure(*settings_);
  for (const auto& e : settings_->extra_labels) extra_labels_.emplace_back(e);
  auto view = std::make_unique<ShardView>();
  view->settings = settings_;
  if (settings_->user_source.kind != UserIdentitySource::Kind::none)
    users_ = std::make_unique<SpaceSaving>(settings_->top_users * kUserSketchFactor);
  view->users = users_.get();
  view_plain_ = view.release();
  view_.store(view_plain_, std::memory_order_release);
}

WorkerMetrics::~WorkerMetrics() { delete view_plain_; }

void WorkerMetrics::configure(const MetricsSettings& s) {
  routes_.configure(s.route_labels, s.max_learned_templates);
  auto same = [](const LayoutPtr& layout, const std::vector<double>& bounds) {
    return layout && layout->same_as(HistogramLayout(layout->scale(), layout->units_per_base(), bounds));
  };
  if (!same(default_duration_layout_, s.duration_buckets))
    default_duration_layout_ = std::make_shared<HistogramLayout>(kDurationScale, kNanosPerSecond, s.duration_buckets);
  if (!same(size_layout_, s.size_buckets))
    size_layout_ = std::make_shared<HistogramLayout>(kSizeScale, 1.0, s.size_buckets);
  route_duration_layouts_.assign(s.route_labels.size(), nullptr);
  for (std::size_t i = 0; i < s.route_buckets.size() && i < route_duration_layouts_.size(); ++i)
    if (!s.route_buckets[i].empty())
      route_duration_layouts_[i] = std::make_shared<HistogramLayout>(kDurationScale, kNanosPerSecond, s.route_buckets[i]);
}

const LayoutPtr& WorkerMetrics::duration_layout(std::uint32_t route) const noexcept {
  auto i = routes_.configured_index(route);
  if (i >= 0 && route_duration_layouts_[static_cast<std::size_t>(i)]) return route_duration_layouts_[static_cast<std::size_t>(i)];
  return default_duration_layout_;
}

void WorkerMetrics::apply(std::shared_ptr<const MetricsSettings> settings) {
  if (!settings || settings == settings_) return;
  const bool same_service = settings->service == settings_->service;
  const bool same_extras = settings->extra_labels == settings_->extra_labels;
  settings_ = std::move(settings);
  configure(*settings_);
  if (!same_extras) {
    extra_labels_.clear();
    for (const auto& e : settings_->extra_labels) extra_labels_.emplace_back(e);
  }

  auto view = std::make_unique<ShardView>();
  view->settings = settings_;

  const bool want_users = settings_->user_source.kind != UserIdentitySource::Kind::none;
  const std::size_t capacity = settings_->top_users * kUserSketchFactor;
  if (!want_users || !users_ || users_->capacity() != capacity) {
    std::uint64_t stamp = users_ ? users_->last_stamp() + 1 : 0;
    view->retired_users = std::move(users_);
    if (want_users) users_ = std::make_unique<SpaceSaving>(capacity, stamp);
  }
  view->users = users_.get();

  // A series persists when its labels still exist under the new settings and its buckets are unchanged.
  request_index_.clear();
  std::vector<std::unique_ptr<RequestSeries>> kept_requests;
  for (auto& s : request_series_) {
    std::optional<std::uint32_t> id;
    if (same_service && same_extras) id = routes_.find(s->labels.route, s->labels.learned);
    if (id && s->duration.layout()->same_as(*duration_layout(*id))) {
      s->key.route = *id;
      request_index_.emplace(s->key, s.get());
      view->requests.push(s.get());
      kept_requests.push_back(std::move(s));
    } else {
      view->retired_requests.push_back(std::move(s));
    }
  }
  request_series_ = std::move(kept_requests);

  route_index_.clear();
  std::vector<std::unique_ptr<RouteSeries>> kept_routes;
  for (auto& s : route_series_) {
    std::optional<std::uint32_t> id;
    if (same_service) id = routes_.find(s->route, s->learned);
    if (id && s->overhead.layout()->same_as(*duration_layout(*id)) && s->request_body.layout()->same_as(*size_layout_)) {
      s->key = *id;
      route_index_.emplace(s->key, s.get());
      view->routes.push(s.get());
      kept_routes.push_back(std::move(s));
    } else {
      view->retired_routes.push_back(std::move(s));
    }
  }
  route_series_ = std::move(kept_routes);

  // The old view (and whatever it still owns) now belongs to the new one; the next scrape frees it.
  view->previous.reset(view_plain_);
  view_plain_ = view.release();
  view_.store(view_plain_, std::memory_order_release);
}

std::uint8_t WorkerMetrics::error_index(std::string_view error_type) noexcept {
  if (error_type.empty()) return kErrorNone;
  for (std::size_t i = 0; i < error_types_.size(); ++i)
    if (error_types_[i] == error_type) return static_cast<std::uint8_t>(i + 1);
  if (error_types_.size() >= kMaxErrorTypes) return kErrorOther;
  try {
    error_types_.emplace_back(error_type);
  } catch (...) {
    return kErrorOther;
  }
  return static_cast<std::uint8_t>(error_types_.size());
}

RequestSeries* WorkerMetrics::request_series(const RequestKey& key) noexcept {
  if (auto it = request_index_.find(key); it != request_index_.end()) return it->second;
  // First sighting on this worker: ask the budget before building anything.
  std::array<std::string_view, kMaxExtraLabels> extra{};
  for (std::size_t i = 0; i < extra_labels_.size() && i < extra.size(); ++i) extra[i] = extra_labels_[i].value(key.extra[i]);
  const std::string_view route = routes_.label(key.route);
  const std::string_view error =
      key.error == kErrorNone ? std::string_view{} : key.error == kErrorOther ? std::string_view("_other") : std::string_view(error_types_[key.error - 1]);
  if (!budget_.admit(request_fingerprint(route, key.method, key.version, key.status, error, extra))) {
    add(series_dropped_, 1);
    return nullptr;
  }
  try {
    RequestLabels labels;
    labels.route = route;
    labels.learned = routes_.learned(key.route);
    labels.method = key.method;
    labels.version = key.version;
    labels.status = key.status;
    labels.error_type = error;
    for (std::size_t i = 0; i < extra.size(); ++i) labels.extra[i] = extra[i];
    auto series = std::make_unique<RequestSeries>(key, std::move(labels), duration_layout(key.route), clock_.wall_seconds());
    RequestSeries* raw = series.get();
    request_series_.push_back(std::move(series));
    request_index_.emplace(key, raw);
    view_plain_->requests.push(raw);
    return raw;
  } catch (...) {
    add(series_dropped_, 1);
    return nullptr;
  }
}

RouteSeries* WorkerMetrics::route_series(std::uint32_t route) noexcept {
  if (auto it = route_index_.find(route); it != route_index_.end()) return it->second;
  const std::string_view label = routes_.label(route);
  if (!budget_.admit(route_fingerprint(label))) {
    add(series_dropped_, 1);
    return nullptr;
  }
  try {
    auto series = std::make_unique<RouteSeries>(route, std::string(label), routes_.learned(route), clock_.wall_seconds(),
                                                duration_layout(route), size_layout_);
    RouteSeries* raw = series.get();
    route_series_.push_back(std::move(series));
    route_index_.emplace(route, raw);
    view_plain_->routes.push(raw);
    return raw;
  } catch (...) {
    add(series_dropped_, 1);
    return nullptr;
  }
}

ResolvedRoute WorkerMetrics::resolve_route(const RequestRecord& record) noexcept {
  const std::uint32_t id = routes_.resolve(record);
  return {id, id == kOtherRouteId ? std::string_view{} : routes_.label(id)};
}

void WorkerMetrics::record(const RequestRecord& r, ResolvedRoute route, std::span<const std::string_view> extra_label_values) noexcept {
  RequestKey key;
  key.method = classify_method(r.method);
  key.version = r.version;
  key.route = route.id;
  key.status = r.status >= 100 && r.status <= 999 ? static_cast<std::uint16_t>(r.status) : 0;
  key.error = error_index(r.error_type);
  for (std::size_t i = 0; i < extra_labels_.size() && i < extra_label_values.size(); ++i)
    key.extra[i] = extra_labels_[i].index(extra_label_values[i]);

  const std::uint64_t total = happened(r.head_started) && happened(r.done) ? RequestRecord::nanoseconds(r.total()) : 0;
  const bool exemplar = r.trace.exported;
  const double now = exemplar ? static_cast<double>(r.unix_nanos(r.done)) / 1e9 : 0.0;
  if (RequestSeries* s = request_series(key)) {
    s->duration.observe(total);
    add(s->received_bytes, r.received_bytes);
    add(s->sent_bytes, r.sent_bytes);
    if (exemplar)
      s->duration_exemplars.record(s->duration.layout()->bounds(), {r.trace.trace_id, r.trace.server_span_id, static_cast<double>(total) / 1e9, now});
  }
  if (RouteSeries* s = route_series(key.route)) {
    const std::uint64_t upstream = RequestRecord::nanoseconds(r.upstream_time());
    if (r.upstream_completed()) {
      s->upstream_duration.observe(upstream);
      if (exemplar)
        s->upstream_exemplars.record(s->upstream_duration.layout()->bounds(), {r.trace.trace_id, r.trace.client_span_id, static_cast<double>(upstream) / 1e9, now});
    }
    if (const RequestRecord::Interval ttfb = r.time_to_first_byte(); ttfb.happened())
      s->time_to_first_byte.observe(RequestRecord::nanoseconds(ttfb.length()));
    s->overhead.observe(total > upstream ? total - upstream : 0);
    s->request_body.observe(r.request_body_bytes);
    s->response_body.observe(r.response_body_bytes);
  }
  if (users_) {
    if (r.user.empty()) {
      add(anonymous_, 1);
    } else {
      UserKeyBuffer scratch;
      std::string_view user = user_key(r.user, scratch);
      const std::uint64_t h = hash64(user);
      add(identified_, 1);
      users_->add(user, h);
      if (happened(r.done)) recent_users_.add_hash(h, r.done);
    }
  }
}

void WorkerMetrics::upstream_connect_error(std::string_view type) noexcept {
  for (std::size_t i = 0; i < connect_error_plain_; ++i) {
    if (connect_errors_[i].type == type) {
      add(connect_errors_[i].count, 1);
      return;
    }
  }
  if (connect_error_plain_ < kMaxConnectErrorTypes) {
    try {
      ConnectError& e = connect_errors_[connect_error_plain_];
      e.type = type;
      e.count.store(1, std::memory_order_relaxed);
      connect_error_count_.store(++connect_error_plain_, std::memory_order_release);
      return;
    } catch (...) {
    }
  }
  add(connect_errors_.back().count, 1);
}

UserToken WorkerMetrics::user_started(std::string_view user) noexcept {
  if (!users_ || user.empty()) return {};
  UserKeyBuffer scratch;
  std::string_view key = user_key(user, scratch);
  return users_->begin_request(key, hash64(key));
}

void WorkerMetrics::user_finished(UserToken token) noexcept {
  if (users_ && token.monitored()) users_->end_request(token);
}

std::size_t WorkerMetrics::series_memory_bytes() const noexcept {
  // Per map entry: node (key + pointer + next) and bucket slot, as libstdc++ lays them out.
  constexpr std::size_t kNode = 48;
  std::size_t total = 0;
  for (const auto& s : request_series_)
    total += sizeof(RequestSeries) + s->duration.heap_bytes() + s->labels.route.capacity() + kNode;
  for (const auto& s : route_series_)
    total += sizeof(RouteSeries) + s->upstream_duration.heap_bytes() + s->time_to_first_byte.heap_bytes() +
             s->overhead.heap_bytes() + s->request_body.heap_bytes() + s->response_body.heap_bytes() + s->route.capacity() + kNode;
  return total;
}

}  // namespace apimeter::metrics
