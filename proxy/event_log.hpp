// Process events (startup, reload, drain, errors) as one JSON line each on stderr, in the same ECS field
// style as the access log, so one log pipeline reads both. Control thread and main only; never a worker.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace apimeter {

using EventField = std::pair<std::string_view, std::string>;

// `fields` are added as string values; keys are emitted as given ("apimeter.listen").
void log_event(std::string_view level, std::string_view message, std::initializer_list<EventField> fields = {});

}  // namespace apimeter
