// Tests of ctl/table_spec_text.h: specs survive the text form bit for bit,
// and malformed words are refused.
#include "ctl/table_spec_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace adamasync::ctl {
namespace {

using ::testing::HasSubstr;

TEST(TableSpecTextTest, FormatDoubleIsShortestExact) {
  EXPECT_EQ(FormatDouble(0.001), "0.001");
  EXPECT_EQ(FormatDouble(0.9), "0.9");
  EXPECT_EQ(FormatDouble(1e-8), "1e-08");
  EXPECT_EQ(FormatDouble(0), "0");
  for (double d :
       {0.1 + 0.2, 1.0 / 3, std::nextafter(0.999, 1.0), 5e-324, 1.7976931348623157e308}) {
    EXPECT_EQ(std::strtod(FormatDouble(d).c_str(), nullptr), d) << FormatDouble(d);
  }
}

TEST(TableSpecTextTest, RoundTripsEveryField) {
  TableSpec spec;
  spec.name = "t";
  spec.num_elements = 123456;
  spec.adam = {Algorithm::kAdamW, 0.1 + 0.2, 0.85, 0.9995, 1e-7, 1.0 / 3, true, true};
  spec.init = Initializer::Normal(-0.5, 0.02, 77);
  spec.consistency.staleness_policy = StalenessPolicy::kScale;
  spec.consistency.max_staleness = 4;
  spec.consistency.ssp_bound = 2;
  TableSpec back;
  back.name = "t";
  ASSERT_TRUE(ApplyTableSpecText(FormatTableSpec(spec, true), &back).ok());
  EXPECT_EQ(back, spec);

  TableSpec no_init;
  no_init.name = "t";
  ASSERT_TRUE(ApplyTableSpecText(FormatTableSpec(spec, false), &no_init).ok());
  EXPECT_EQ(no_init.adam, spec.adam);
  EXPECT_EQ(no_init.init, Initializer::Zeros()) << "keys not in the text keep their value";
}

TEST(TableSpecTextTest, OverlaysOnlyTheGivenKeys) {
  TableSpec spec;
  ASSERT_TRUE(ApplyTableSpecText("lr=0.01  sync_workers=2", &spec).ok());
  EXPECT_EQ(spec.adam.lr, 0.01);
  EXPECT_EQ(spec.consistency.sync_workers, 2);
  EXPECT_EQ(spec.adam.beta1, 0.9);
  EXPECT_TRUE(ApplyTableSpecText("", &spec).ok());
}

TEST(TableSpecTextTest, RefusesMalformedWords) {
  TableSpec spec;
  EXPECT_THAT(ApplyTableSpecText("lr", &spec).message(), HasSubstr("key=value"));
  EXPECT_THAT(ApplyTableSpecText("lr=fast", &spec).message(), HasSubstr("does not parse"));
  EXPECT_THAT(ApplyTableSpecText("lr=0.1 lr=0.2", &spec).message(), HasSubstr("twice"));
  EXPECT_THAT(ApplyTableSpecText("colour=red", &spec).message(), HasSubstr("unknown key"));
  EXPECT_THAT(ApplyTableSpecText("algorithm=sgd", &spec).message(), HasSubstr("adamw"));
  EXPECT_THAT(ApplyTableSpecText("amsgrad=maybe", &spec).message(), HasSubstr("does not parse"));
  EXPECT_THAT(ApplyTableSpecText("num_elements=-1", &spec).message(), HasSubstr("does not parse"));
}

}  // namespace
}  // namespace adamasync::ctl
