#include <centaur/processors/redaction.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace centaur::processors {
namespace {

namespace json = boost::json;

constexpr char anthropic_key[] = "sk-ant-api03-AbCdEfGh123456789";
constexpr char openai_key[] = "sk-proj-abc123DEF456ghi789";
constexpr char slack_key[] = "xoxb-1234567890-abcdefghij";
constexpr char github_key[] = "ghp_AbCdEf0123456789xyz";

TEST(Redaction, BearerCredentialKeepsTheWord) {
    EXPECT_EQ(redact_secrets("Authorization: Bearer eyJhbGciOi.payload.sig-_~+/=="),
              "Authorization: Bearer [REDACTED_TOKEN]");
    EXPECT_EQ(redact_secrets("curl -H 'authorization: bearer\tabcdefgh12345678' x"),
              "curl -H 'authorization: bearer\t[REDACTED_TOKEN]' x");
    EXPECT_EQ(redact_secrets("BEARER   abcdefgh12345678."), "BEARER   [REDACTED_TOKEN]");
}

TEST(Redaction, BearerProseAndShortWordsStay) {
    EXPECT_EQ(redact_secrets("send a Bearer token"), "send a Bearer token");
    EXPECT_EQ(redact_secrets("Bearer"), "Bearer");
    EXPECT_EQ(redact_secrets("Bearer: abcdefgh12345678"), "Bearer: abcdefgh12345678");
    EXPECT_EQ(redact_secrets("forbearer abcdefgh12345678"), "forbearer abcdefgh12345678");
}

TEST(Redaction, SecretLookingAssignments) {
    EXPECT_EQ(redact_secrets("OPENAI_API_KEY=abc"), "OPENAI_API_KEY=[REDACTED_TOKEN]");
    EXPECT_EQ(redact_secrets("export GITHUB_TOKEN=x1 next"), "export GITHUB_TOKEN=[REDACTED_TOKEN] next");
    EXPECT_EQ(redact_secrets("db_password=p@ss:w0rd!#$%"), "db_password=[REDACTED_TOKEN]");
    EXPECT_EQ(redact_secrets("--client-secret=s3cr3t"), "--client-secret=[REDACTED_TOKEN]");
    EXPECT_EQ(redact_secrets("Slack_Signing_Secret=abc&x=1"), "Slack_Signing_Secret=[REDACTED_TOKEN]&x=1");
    EXPECT_EQ(redact_secrets("API_KEY=\"quoted value\""), "API_KEY=\"[REDACTED_TOKEN] value\"");
    EXPECT_EQ(redact_secrets("TOKEN='abc'"), "TOKEN='[REDACTED_TOKEN]'");
}

TEST(Redaction, OrdinaryAssignmentsStay) {
    EXPECT_EQ(redact_secrets("PATH=/usr/bin HOME=/root"), "PATH=/usr/bin HOME=/root");
    EXPECT_EQ(redact_secrets("TOKEN= spaced"), "TOKEN= spaced");
    EXPECT_EQ(redact_secrets("a == b, token == c"), "a == b, token == c");
    EXPECT_EQ(redact_secrets("API-KEY=abc"), "API-KEY=abc");  // only API_KEY with an underscore
}

TEST(Redaction, KnownPrefixesAreReplacedWhole) {
    EXPECT_EQ(redact_secrets(std::string("key ") + anthropic_key + " end"), "key [REDACTED_TOKEN] end");
    EXPECT_EQ(redact_secrets(std::string("(") + openai_key + ")"), "([REDACTED_TOKEN])");
    EXPECT_EQ(redact_secrets(slack_key), "[REDACTED_TOKEN]");
    for (const char* slack : {"xoxa-", "xoxp-", "xoxr-", "xoxs-"})
        EXPECT_EQ(redact_secrets(std::string(slack) + "12345678"), "[REDACTED_TOKEN]") << slack;
    for (const char* gh : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"})
        EXPECT_EQ(redact_secrets(std::string(gh) + "ABCdef123456"), "[REDACTED_TOKEN]") << gh;
    EXPECT_EQ(redact_secrets("sandbox sbx1.abcdefgh.ijk, ok"), "sandbox [REDACTED_TOKEN], ok");
}

TEST(Redaction, NoFalsePositivesOnOrdinaryWords) {
    for (const char* text : {"skeleton sk-learn task-abcdefghijkl risk-abcdefghijkl",
                             "xoxo-abcdefghijkl xoxc-abcdefghijkl",
                             "ghq_abcdefghijkl mygithub_pat_abcdefghijkl",
                             "sbx2.abcdefghijkl asbx1.abcdefghijkl",
                             "SK-ABCDEFGHIJKL", "tokens are counted: token_count 12, secrets: none",
                             "the password is in the vault", "sk-short"})
        EXPECT_EQ(redact_secrets(text), text) << text;
}

TEST(Redaction, JsonEscapedContextsStayValidJson) {
    json::object line{{"type", "item.agentMessage.delta"},
                      {"delta", std::string("run:\n") + "OPENAI_API_KEY=" + "abc123" + "\n" + openai_key +
                                    "\t\"Bearer abcdefgh12345678\"\n" + slack_key + "\\" + github_key +
                                    " url https:/" + "/x/" + anthropic_key + " PASSWORD=\"hunter22\""}};
    const std::string raw = json::serialize(line);
    const std::string redacted = redact_secrets(raw);
    boost::system::error_code ec;
    const json::value parsed = json::parse(redacted, ec);
    ASSERT_FALSE(ec) << redacted;
    const std::string delta(parsed.at("delta").as_string());
    for (const char* secret :
         {"abc123", openai_key, "abcdefgh12345678", slack_key, github_key, anthropic_key, "hunter22"})
        EXPECT_EQ(redacted.find(secret), std::string::npos) << secret << " in " << redacted;
    EXPECT_EQ(delta,
              "run:\nOPENAI_API_KEY=[REDACTED_TOKEN]\n[REDACTED_TOKEN]\t\"Bearer [REDACTED_TOKEN]\"\n"
              "[REDACTED_TOKEN]\\[REDACTED_TOKEN] url https://x/[REDACTED_TOKEN] "
              "PASSWORD=\"[REDACTED_TOKEN]\"");
    EXPECT_EQ(parsed.at("type").as_string(), "item.agentMessage.delta");
}

TEST(Redaction, EscapedSlashInsideATokenIsConsumedWhole) {
    const std::string redacted = redact_secrets(R"({"h":"Bearer abc\/defghijk\/lmn"})");
    EXPECT_EQ(redacted, R"({"h":"Bearer [REDACTED_TOKEN]"})");
}

TEST(Redaction, NonAsciiBytesAreNeverSplit) {
    const std::string text = "TOKEN=abc\xC3\xA9z sk-abcdefgh\xE2\x82\xAC";
    EXPECT_EQ(redact_secrets(text), "TOKEN=[REDACTED_TOKEN]\xC3\xA9z [REDACTED_TOKEN]\xE2\x82\xAC");
}

TEST(Redaction, Idempotent) {
    const std::string texts[] = {std::string("Bearer abcdefgh12345678 OPENAI_API_KEY=x ") + openai_key,
                                 R"({"d":"TOKEN=\"abc\" \nsk-abcdefgh123 Bearer\tQWERTYUIOP"})",
                                 "[REDACTED_TOKEN] TOKEN=[REDACTED_TOKEN] Bearer [REDACTED_TOKEN]"};
    for (const std::string& text : texts) {
        const std::string once = redact_secrets(text);
        EXPECT_EQ(redact_secrets(once), once) << text;
    }
    EXPECT_EQ(redact_secrets("TOKEN=[REDACTED_TOKEN]"), "TOKEN=[REDACTED_TOKEN]");
}

TEST(Redaction, LinesWithoutSecretsAreUnchanged) {
    const std::string line = R"({"type":"turn.completed","turn":{"id":"mock-turn-1","status":"completed"},)"
                             R"("usage":{"input_tokens":0}})";
    EXPECT_EQ(redact_secrets(line), line);
    EXPECT_EQ(redact_secrets(""), "");
}

}  // namespace
}  // namespace centaur::processors
