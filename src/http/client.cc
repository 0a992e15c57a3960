#include "http/client.h"

#include <httplib.h>

namespace krond::http {

Result<ClientResponse> Send(const std::string& base_url, const std::string& method,
                            const std::string& target, const std::string& body,
                            const std::map<std::string, std::string>& headers,
                            const ClientOptions& options) {
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0) {
    return MakeError("console URL \"" + base_url + "\": expected http://HOST:PORT or https://…");
  }
  httplib::Client client(base_url);
  if (!client.is_valid()) return MakeError("console URL \"" + base_url + "\" is not valid");
  const auto timeout = static_cast<time_t>(options.timeout.count());
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  if (!options.ca_file.empty()) client.set_ca_cert_path(options.ca_file.c_str());
  client.enable_server_certificate_verification(true);
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  httplib::Result result = [&] {
    if (method == "GET") return client.Get(target.c_str(), h);
    if (method == "DELETE") return client.Delete(target.c_str(), h, body, "application/json");
    return client.Post(target.c_str(), h, body, "application/json");
  }();
  if (!result) {
    return MakeError("cannot reach the console at " + base_url + ": " +
                     httplib::to_string(result.error()));
  }
  return ClientResponse{result->status, result->body, result->get_header_value("Content-Type")};
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace krond::http
