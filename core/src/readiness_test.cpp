#include <centaur/core/readiness.hpp>

#include <gtest/gtest.h>

namespace centaur {
namespace {

TEST(Readiness, ReportOnlyComponentsShowInReadinessButDoNotStopServing) {
    Readiness r;
    r.expect("startup", "connecting");
    r.expect("postgres", "starting", Readiness::Gate::report_only);
    EXPECT_FALSE(r.ready());
    EXPECT_FALSE(r.serving());
    EXPECT_EQ(r.problems(), "postgres (starting), startup (connecting)");

    r.set_ready("startup");
    EXPECT_TRUE(r.serving()) << "only a report-only component is not ready";
    EXPECT_FALSE(r.ready());
    r.set_ready("postgres");
    EXPECT_TRUE(r.ready());
    EXPECT_EQ(r.problems(), "");

    r.set_not_ready("postgres", "unreachable: connection refused");
    EXPECT_TRUE(r.serving());
    EXPECT_FALSE(r.ready());
    EXPECT_EQ(r.report().at("postgres"), "unreachable: connection refused");
    EXPECT_EQ(r.report().at("startup"), "ready");

    r.set_not_ready("projector", "postgres unavailable");  // never expected: gates like any other component
    EXPECT_FALSE(r.serving());
}

}  // namespace
}  // namespace centaur
