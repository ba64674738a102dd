// Tests of common/table_spec_validation.h: every rule of a TableSpec is
// enforced with INVALID_ARGUMENT and a message that names the field.
#include "common/table_spec_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace adamasync {
namespace {

using ::testing::HasSubstr;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TableSpec ValidSpec() {
  TableSpec spec;
  spec.name = "mlp/layer1/weight";
  spec.num_elements = 784 * 256;
  spec.adam.algorithm = Algorithm::kAdamW;
  spec.adam.weight_decay = 1e-2;
  spec.init = Initializer::Uniform(-0.05, 0.05, 7);
  return spec;
}

// Expects `status` to be INVALID_ARGUMENT with a message containing `field`.
void ExpectInvalid(const absl::Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(field));
}

TEST(TableSpecValidationTest, AcceptsValidSpecs) {
  EXPECT_TRUE(ValidateTableSpec(ValidSpec()).ok());
  TableSpec spec = ValidSpec();
  spec.adam = AdamConfig();  // PyTorch's defaults
  spec.init = Initializer::Zeros();
  spec.num_elements = 1;
  EXPECT_TRUE(ValidateTableSpec(spec).ok());
  spec.num_elements = kMaxTableElements;
  EXPECT_TRUE(ValidateTableSpec(spec).ok());
  // Boundary values that are allowed.
  spec.adam.beta1 = 0;
  spec.adam.beta2 = 0;
  spec.adam.weight_decay = 0;
  spec.adam.amsgrad = true;
  spec.adam.maximize = true;
  EXPECT_TRUE(ValidateTableSpec(spec).ok());
  spec.adam.beta1 = 0.999999;
  spec.adam.lr = 1e-30;
  spec.adam.eps = 1e-30;
  EXPECT_TRUE(ValidateTableSpec(spec).ok());
}

TEST(TableSpecValidationTest, RejectsBadLearningRate) {
  for (double lr : {0.0, -0.0, -1e-3, kNaN, kInf, -kInf}) {
    AdamConfig adam;
    adam.lr = lr;
    SCOPED_TRACE(lr);
    ExpectInvalid(ValidateAdamConfig(adam), "lr");
    TableSpec spec = ValidSpec();
    spec.adam = adam;
    ExpectInvalid(ValidateTableSpec(spec), "lr");
  }
}

TEST(TableSpecValidationTest, RejectsBetasOutsideZeroOne) {
  for (double beta : {-1e-9, -0.5, 1.0, 1.5, kNaN, kInf, -kInf}) {
    SCOPED_TRACE(beta);
    AdamConfig adam;
    adam.beta1 = beta;
    ExpectInvalid(ValidateAdamConfig(adam), "beta1");
    adam = AdamConfig();
    adam.beta2 = beta;
    ExpectInvalid(ValidateAdamConfig(adam), "beta2");
  }
}

TEST(TableSpecValidationTest, RejectsBadEpsilon) {
  for (double eps : {0.0, -1e-8, kNaN, kInf, -kInf}) {
    SCOPED_TRACE(eps);
    AdamConfig adam;
    adam.eps = eps;
    ExpectInvalid(ValidateAdamConfig(adam), "eps");
  }
}

TEST(TableSpecValidationTest, RejectsBadWeightDecay) {
  for (double wd : {-1e-12, -1.0, kNaN, kInf, -kInf}) {
    for (Algorithm algorithm : {Algorithm::kAdam, Algorithm::kAdamW}) {
      SCOPED_TRACE(wd);
      AdamConfig adam;
      adam.algorithm = algorithm;
      adam.weight_decay = wd;
      ExpectInvalid(ValidateAdamConfig(adam), "weight_decay");
    }
  }
}

TEST(TableSpecValidationTest, RejectsUnknownAlgorithm) {
  AdamConfig adam;
  adam.algorithm = static_cast<Algorithm>(7);
  ExpectInvalid(ValidateAdamConfig(adam), "algorithm");
}

TEST(TableSpecValidationTest, AcceptsGoodNames) {
  for (const std::string& name :
       std::vector<std::string>{"w", "mlp/layer1/weight", "emb:users", "A-z_0.9",
                                std::string(kMaxTableNameLength, 'x')}) {
    EXPECT_TRUE(ValidateTableName(name).ok()) << name;
  }
}

TEST(TableSpecValidationTest, RejectsBadNames) {
  ExpectInvalid(ValidateTableName(""), "name");
  ExpectInvalid(ValidateTableName(std::string(kMaxTableNameLength + 1, 'x')), "name");
  for (const std::string& name :
       std::vector<std::string>{"has space", "tab\t", "semi;colon", "quote\"", "star*",
                                "back\\slash", "caf\xc3\xa9", std::string("nul\0byte", 8)}) {
    SCOPED_TRACE(name);
    ExpectInvalid(ValidateTableName(name), "name");
    TableSpec spec = ValidSpec();
    spec.name = name;
    ExpectInvalid(ValidateTableSpec(spec), "name");
  }
}

TEST(TableSpecValidationTest, RejectsBadElementCounts) {
  for (uint64_t n : {uint64_t{0}, kMaxTableElements + 1, std::numeric_limits<uint64_t>::max()}) {
    SCOPED_TRACE(n);
    TableSpec spec = ValidSpec();
    spec.num_elements = n;
    ExpectInvalid(ValidateTableSpec(spec), "num_elements");
  }
}

TEST(TableSpecValidationTest, AcceptsGoodInitializers) {
  for (const Initializer& init :
       {Initializer::Zeros(), Initializer::Constant(0), Initializer::Constant(-3.5),
        Initializer::Uniform(-1, 1, 0), Initializer::Uniform(0, 1e-30, 9),
        Initializer::Normal(0, 0.02, 1), Initializer::Normal(5, 0, 2)}) {
    EXPECT_TRUE(ValidateInitializer(init).ok()) << static_cast<int>(init.kind);
  }
}

TEST(TableSpecValidationTest, RejectsBadInitializers) {
  ExpectInvalid(ValidateInitializer(Initializer::Constant(kNaN)), "constant");
  ExpectInvalid(ValidateInitializer(Initializer::Constant(kInf)), "constant");
  ExpectInvalid(ValidateInitializer(Initializer::Uniform(1, 1, 0)), "uniform");
  ExpectInvalid(ValidateInitializer(Initializer::Uniform(1, -1, 0)), "uniform");
  ExpectInvalid(ValidateInitializer(Initializer::Uniform(kNaN, 1, 0)), "uniform");
  ExpectInvalid(ValidateInitializer(Initializer::Uniform(0, kNaN, 0)), "uniform");
  ExpectInvalid(ValidateInitializer(Initializer::Uniform(-kInf, 1, 0)), "uniform");
  ExpectInvalid(ValidateInitializer(Initializer::Uniform(0, kInf, 0)), "uniform");
  ExpectInvalid(ValidateInitializer(Initializer::Normal(kNaN, 1, 0)), "mean");
  ExpectInvalid(ValidateInitializer(Initializer::Normal(kInf, 1, 0)), "mean");
  ExpectInvalid(ValidateInitializer(Initializer::Normal(0, -1, 0)), "stddev");
  ExpectInvalid(ValidateInitializer(Initializer::Normal(0, kNaN, 0)), "stddev");
  ExpectInvalid(ValidateInitializer(Initializer::Normal(0, kInf, 0)), "stddev");
  Initializer unknown;
  unknown.kind = static_cast<Initializer::Kind>(42);
  ExpectInvalid(ValidateInitializer(unknown), "initializer");

  TableSpec spec = ValidSpec();
  spec.init = Initializer::Normal(0, -1, 0);
  ExpectInvalid(ValidateTableSpec(spec), "stddev");
}

TEST(TableSpecValidationTest, MessagesCarryTheOffendingValue) {
  AdamConfig adam;
  adam.lr = -0.25;
  EXPECT_THAT(std::string(ValidateAdamConfig(adam).message()), HasSubstr("-0.25"));
  TableSpec spec = ValidSpec();
  spec.num_elements = 0;
  EXPECT_THAT(std::string(ValidateTableSpec(spec).message()), HasSubstr("got 0"));
}

}  // namespace
}  // namespace adamasync
