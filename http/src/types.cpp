// Beast-free helpers of types.hpp: cheap to compile, used by every route.

#include <centaur/http/types.hpp>

#include <centaur/schemas/hex.hpp>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace centaur::http {

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
    auto it = headers.find(std::string(lower_name));
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
}

Response error_response(unsigned status, std::string_view message) {
    boost::json::object body;
    body["ok"] = false;
    body["error"] = message;
    return json_response(body, status);
}

Response json_response(const boost::json::value& value, unsigned status) {
    Response res;
    res.status = status;
    res.body = boost::json::serialize(value);
    return res;
}

std::string percent_encode_component(std::string_view in) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(in.size());
    for (unsigned char c : in) {
        const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '_' || c == '.' || c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' || c == ')';
        if (keep) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 15]);
        }
    }
    return out;
}

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = schemas::hex_value(in[i + 1]);
            const int lo = schemas::hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return true;
}

}  // namespace centaur::http
