// A minimal HTTP/1.1 client for the exporter thread: POST one body to the collector over a kept-alive
// connection, cleartext or TLS (the collector's certificate verified: chain and host name), everything
// (resolve, connect, handshake, write, read) under one deadline. Blocking from the caller's
// view; runs its own private io_context. Exporter thread only.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "tracing/exporter_settings.hpp"

namespace apimeter::tracing {

struct PostOutcome {
  int status = 0;     // HTTP status; 0 when no response arrived (error says why)
  std::string error;  // connection or protocol failure, empty otherwise
  std::optional<std::chrono::milliseconds> retry_after;  // the response's Retry-After, if any
  std::string body;
};

class OtlpHttpClient {
 public:
  OtlpHttpClient();
  ~OtlpHttpClient();
  PostOutcome post(const ExporterSettings& settings, std::string_view body, bool gzipped,
                   std::chrono::steady_clock::time_point deadline);
  void close() noexcept;

 private:
  PostOutcome attempt(const ExporterSettings& settings, std::string_view body, bool gzipped,
                      std::chrono::steady_clock::time_point deadline, bool& reused);

  // The TLS context for `ca_file` (rebuilt when the setting changes); false with a reason in `error`.
  bool ensure_tls_context(const std::string& ca_file, std::string& error);

  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  std::string tls_context_ca_file_;
  std::unique_ptr<boost::asio::ssl::stream<boost::beast::tcp_stream&>> tls_;  // the connection's session
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
  bool connected_tls_ = false;
  std::string connected_host_;
  std::uint16_t connected_port_ = 0;
};

// Retry-After as delay-seconds or an HTTP-date (RFC 9110 10.2.3), relative to `now`; nullopt if neither.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                          std::chrono::system_clock::time_point now) noexcept;

}  // namespace apimeter::tracing
