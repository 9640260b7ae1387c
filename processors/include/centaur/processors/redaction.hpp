#pragma once

#include <string>
#include <string_view>

namespace centaur::processors {

/// The text that replaces every secret.
inline constexpr std::string_view redacted_token = "[REDACTED_TOKEN]";

/// `line` with every secret replaced by redacted_token. Secrets are:
/// - the credential after `Bearer` (case-insensitive word, then spaces or tabs): `Bearer [REDACTED_TOKEN]`;
/// - the value of `NAME=value` where NAME (letters, digits, `_`, `-`) contains API_KEY, TOKEN, SECRET or
///   PASSWORD case-insensitively; a `'`, `"` or `\"` before the value stays: `NAME="[REDACTED_TOKEN]"`;
/// - a whole token starting with `sbx1.`, `sk-` (so `sk-ant-`), `xox[abprs]-`, `gh[pousr]_` or `github_pat_`
///   (case-sensitive) that does not continue a word.
/// Bearer credentials and prefixed tokens need at least `min_secret_chars` characters after the prefix so
/// prose ("Bearer tokens", "sk-learn") survives; assigned values need one.
/// Only ASCII secret characters are replaced (never `"`, `\` other than a whole `\/` escape, whitespace,
/// control or non-ASCII bytes), so a valid JSON line stays valid JSON and UTF-8 stays intact. Idempotent:
/// redact_secrets(redact_secrets(x)) == redact_secrets(x).
std::string redact_secrets(std::string_view line);

/// Characters a Bearer credential or prefixed token must have after its prefix.
inline constexpr std::size_t min_secret_chars = 8;

}  // namespace centaur::processors
