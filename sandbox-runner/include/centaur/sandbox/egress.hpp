#pragma once
// Egress settings of isolated sandboxes: the only way out is the runner's proxy (see sandbox-runner/README.md).

#include <centaur/core/result.hpp>

#include <string>
#include <vector>

namespace centaur::sandbox {

/// Port of the in-sandbox forwarder (127.0.0.1) exported as HTTP_PROXY / ALL_PROXY.
inline constexpr int sandbox_proxy_port = 18999;
/// Where the proxy's unix socket is bound inside the sandbox.
inline constexpr char sandbox_egress_dir[] = "/run/centaur-egress";
inline constexpr char egress_socket_name[] = "egress.sock";
/// What the sandbox holds instead of the model API key (upstream's convention).
inline constexpr char model_key_placeholder[] = "OPENAI_API_KEY";

struct EgressOptions {
    bool enabled = false;
    /// Hosts (`host` or `host:port`) reachable through the proxy with plain HTTP, credentials untouched.
    std::vector<std::string> allowed_hosts;
    /// The model gateway: requests for `http://<model_host>/…` go to `model_upstream` + path, with
    /// `placeholder` in the Authorization header replaced by `model_key`.
    std::string model_host = "model.internal";
    std::string model_upstream;  ///< origin, e.g. https://api.openai.com or http://127.0.0.1:8081
    /// CA bundle for https upstreams; empty = the system's trust store.
    std::string upstream_ca_file;
    std::string placeholder = model_key_placeholder;
    std::string model_key;       ///< secret: never logged, never passed into a sandbox
};

}  // namespace centaur::sandbox
