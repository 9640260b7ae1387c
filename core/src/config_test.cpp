#include <centaur/core/config.hpp>

#include <gtest/gtest.h>

#include <cstdlib>

namespace centaur {
namespace {

std::vector<OptionSpec> specs() {
    return {{"bind-addr", "CENTAUR_TEST_BIND_ADDR", "127.0.0.1:8080", "address"},
            {"run-migrations", "CENTAUR_TEST_RUN_MIGRATIONS", "false", "migrate", true},
            {"partitions", "CENTAUR_TEST_PARTITIONS", "8", "partitions"}};
}

TEST(Config, FlagsOverrideEnvOverrideDefaults) {
    ::setenv("CENTAUR_TEST_BIND_ADDR", "0.0.0.0:1", 1);
    const char* argv[] = {"prog", "--partitions=3", "--run-migrations"};
    std::string error;
    auto c = Config::parse(specs(), 3, const_cast<char**>(argv), &error);
    ::unsetenv("CENTAUR_TEST_BIND_ADDR");
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->get("bind-addr"), "0.0.0.0:1");
    EXPECT_EQ(c->source_name("bind-addr"), "CENTAUR_TEST_BIND_ADDR");
    EXPECT_EQ(c->get_int("partitions", 1, 64, &error), 3);
    EXPECT_EQ(c->get_bool("run-migrations", &error), true);
}

TEST(Config, ListsAreTrimmedAndSkipEmptyItems) {
    const char* argv[] = {"prog", "--bind-addr= a, b ,,c ,"};
    std::string error;
    auto c = Config::parse(specs(), 2, const_cast<char**>(argv), &error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->get_list("bind-addr"), (std::vector<std::string>{"a", "b", "c"}));
    const char* empty[] = {"prog", "--bind-addr= , "};
    EXPECT_TRUE(Config::parse(specs(), 2, const_cast<char**>(empty), &error)->get_list("bind-addr").empty());
}

TEST(Config, BadInputNamesTheVariable) {
    std::string error;
    const char* unknown[] = {"prog", "--nope"};
    EXPECT_FALSE(Config::parse(specs(), 2, const_cast<char**>(unknown), &error));
    EXPECT_EQ(error, "unknown flag --nope (see --help)");
    const char* missing[] = {"prog", "--partitions"};
    EXPECT_FALSE(Config::parse(specs(), 2, const_cast<char**>(missing), &error));
    EXPECT_EQ(error, "--partitions needs a value");
    ::setenv("CENTAUR_TEST_PARTITIONS", "lots", 1);
    const char* none[] = {"prog"};
    auto c = Config::parse(specs(), 1, const_cast<char**>(none), &error);
    ::unsetenv("CENTAUR_TEST_PARTITIONS");
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->get_int("partitions", 1, 64, &error));
    EXPECT_EQ(error, "CENTAUR_TEST_PARTITIONS must be an integer in 1..64, got 'lots'");
    EXPECT_NE(c->help_text("prog", "summary").find("[env: CENTAUR_TEST_BIND_ADDR]"), std::string::npos);
}

}  // namespace
}  // namespace centaur
