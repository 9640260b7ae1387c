#include <centaur/test_support/tls_terminator.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace centaur::test_support {
namespace {

constexpr const char* terminator_script = R"(
import os, socket, ssl, sys, threading
cert, key, port_file, upstream = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(64)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except Exception:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
def handle(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except Exception:
        c.close()
        return
    u = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pipe, args=(t, u), daemon=True).start()
    pipe(u, t)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
)";

}  // namespace

TlsTerminator::TlsTerminator(int upstream_port) {
    std::string pattern = (std::filesystem::temp_directory_path() / "centaur-tls-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("TlsTerminator: mkdtemp failed");
    dir_ = pattern;
    ChildProcess openssl({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir_ + "/key.pem",
                          "-out", dir_ + "/cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                          "subjectAltName=DNS:localhost"});
    if (openssl.wait_for_exit(std::chrono::seconds(30)) != 0)
        throw std::runtime_error("TlsTerminator: openssl req failed: " + openssl.stderr_text());
    std::ofstream(dir_ + "/terminator.py") << terminator_script;
    proxy_ = std::make_unique<ChildProcess>(std::vector<std::string>{"python3", dir_ + "/terminator.py",
                                                                     dir_ + "/cert.pem", dir_ + "/key.pem",
                                                                     dir_ + "/port", std::to_string(upstream_port)});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (std::filesystem::exists(dir_ + "/port")) {
            port_ = std::stoi(read_file(dir_ + "/port"));
            return;
        }
        if (!proxy_->running()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("TlsTerminator: not listening within 10 s: " + proxy_->stderr_text());
}

TlsTerminator::~TlsTerminator() {
    proxy_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

}  // namespace centaur::test_support
