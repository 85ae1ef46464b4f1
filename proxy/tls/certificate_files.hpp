// Loading a certificate chain and its private key into an OpenSSL context from PEM files, for the
// listener's server certificate and the client certificate presented to upstreams: each file read once,
// and every failure a message that names the setting and the file.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

namespace apimeter {

// The whole file, or nullopt with the reason in `why`.
std::optional<std::string> read_whole_file(const std::string& file, std::string& why);

// OpenSSL's reason for the last failure (else `ec`'s message), with the error queue cleared so it cannot
// leak into a later call.
std::string openssl_reason(const boost::system::error_code& ec);

// Loads the chain in `cert_file` and the key in `key_file` (settings `cert_setting` and `key_setting`, for
// the messages) into `context`, and checks that the key is the certificate's. Each problem goes to
// `problem`; returns whether there was none.
bool load_certificate_and_key(boost::asio::ssl::context& context, const std::string& cert_file,
                              const std::string& key_file, std::string_view cert_setting,
                              std::string_view key_setting, const std::function<void(std::string)>& problem);

}  // namespace apimeter
