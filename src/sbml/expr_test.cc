// Tests of the compiled SBML math (expr.cc): formulas parsed by libSBML's L3 infix parser are
// compiled and evaluated against hand-computed values.
#include "sbml/expr.h"

#include <gtest/gtest.h>
#include <sbml/SBMLTypes.h>
#include <sbml/math/L3Parser.h>

#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

namespace medtwin::sbml {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Slot 0 is time; variables x, y, z, S1 follow; d(S1)/dt sits in slot 5.
struct Fixture {
  std::map<std::string, int> slots = {{"x", 1}, {"y", 2}, {"z", 3}, {"S1", 4}};
  double values[6] = {2.5, 3.0, -2.0, 0.5, 10.0, -0.25};
  const ::Model* model = nullptr;

  CompileEnv Env() const {
    CompileEnv env;
    env.slot = [this](const std::string& id) {
      auto it = slots.find(id);
      return it == slots.end() ? -1 : it->second;
    };
    env.rate_slot = [](const std::string& id) { return id == "S1" ? 5 : -1; };
    env.sbml_model = model;
    env.context = "rule 'r1'";
    return env;
  }

  Result<Program> Build(const std::string& formula) const {
    std::unique_ptr<ASTNode> ast(SBML_parseL3Formula(formula.c_str()));
    if (ast == nullptr) return Status::Invalid("libSBML could not parse '" + formula + "'");
    return Compile(*ast, Env());
  }

  // Compiles and evaluates; NaN (and a test failure) if compilation fails.
  double Eval(const std::string& formula) const {
    Result<Program> p = Build(formula);
    EXPECT_TRUE(p.ok()) << formula << ": " << p.status().ToString();
    return p.ok() ? p->Eval(values) : std::nan("");
  }
};

TEST(SbmlExprTest, ArithmeticAndPrecedence) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("1 + 2 * 3"), 7.0);
  EXPECT_DOUBLE_EQ(f.Eval("(1 + 2) * 3"), 9.0);
  EXPECT_DOUBLE_EQ(f.Eval("x - y - z"), 3.0 + 2.0 - 0.5);
  EXPECT_DOUBLE_EQ(f.Eval("-x + 1"), -2.0);
  EXPECT_DOUBLE_EQ(f.Eval("2 ^ 3 ^ 2"), 512.0);  // right-associative in the L3 syntax
  EXPECT_DOUBLE_EQ(f.Eval("-2 ^ 2"), -4.0);
  EXPECT_DOUBLE_EQ(f.Eval("x / y * 4"), -6.0);
  EXPECT_DOUBLE_EQ(f.Eval("pow(x, 2)"), 9.0);
  EXPECT_DOUBLE_EQ(f.Eval("1.5e2 + 3"), 153.0);
  EXPECT_DOUBLE_EQ(f.Eval("time * 2"), 5.0);
}

TEST(SbmlExprTest, NumbersAndConstants) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("pi"), std::numbers::pi);
  EXPECT_DOUBLE_EQ(f.Eval("exponentiale"), std::numbers::e);
  EXPECT_DOUBLE_EQ(f.Eval("true + true"), 2.0);
  EXPECT_DOUBLE_EQ(f.Eval("false"), 0.0);
  EXPECT_EQ(f.Eval("INF"), kInf);
  EXPECT_EQ(f.Eval("-INF"), -kInf);
  EXPECT_TRUE(std::isnan(f.Eval("NaN")));
  EXPECT_DOUBLE_EQ(f.Eval("avogadro"), 6.02214179e23);  // libSBML's L3V1 value
}

TEST(SbmlExprTest, EmptyPlusAndTimes) {
  Fixture f;
  auto eval_node = [&](ASTNodeType_t type) {
    ASTNode node(type);
    Result<Program> p = Compile(node, f.Env());
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? p->Eval(f.values) : std::nan("");
  };
  EXPECT_DOUBLE_EQ(eval_node(AST_PLUS), 0.0);
  EXPECT_DOUBLE_EQ(eval_node(AST_TIMES), 1.0);
  EXPECT_DOUBLE_EQ(eval_node(AST_LOGICAL_AND), 1.0);
  EXPECT_DOUBLE_EQ(eval_node(AST_LOGICAL_OR), 0.0);
}

TEST(SbmlExprTest, IeeeDivision) {
  Fixture f;
  EXPECT_EQ(f.Eval("1 / 0"), kInf);
  EXPECT_EQ(f.Eval("-1 / 0"), -kInf);
  EXPECT_TRUE(std::isnan(f.Eval("0 / 0")));
}

TEST(SbmlExprTest, PowersRootsLogs) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("sqrt(16)"), 4.0);
  EXPECT_DOUBLE_EQ(f.Eval("root(3, 27)"), 3.0);
  EXPECT_DOUBLE_EQ(f.Eval("exp(1)"), std::numbers::e);
  EXPECT_DOUBLE_EQ(f.Eval("ln(exponentiale ^ 2)"), 2.0);
  EXPECT_DOUBLE_EQ(f.Eval("log(1000)"), 3.0);  // one argument: base 10
  EXPECT_DOUBLE_EQ(f.Eval("log10(0.01)"), -2.0);
  EXPECT_DOUBLE_EQ(f.Eval("log(2, 8)"), 3.0);
  EXPECT_DOUBLE_EQ(f.Eval("abs(y)"), 2.0);
  EXPECT_DOUBLE_EQ(f.Eval("floor(-2.5)"), -3.0);
  EXPECT_DOUBLE_EQ(f.Eval("ceiling(-2.5)"), -2.0);
  EXPECT_DOUBLE_EQ(f.Eval("factorial(5)"), 120.0);
}

TEST(SbmlExprTest, Trigonometry) {
  Fixture f;
  const double a = 0.7;
  f.values[1] = a;
  EXPECT_DOUBLE_EQ(f.Eval("sin(x)"), std::sin(a));
  EXPECT_DOUBLE_EQ(f.Eval("cos(x)"), std::cos(a));
  EXPECT_DOUBLE_EQ(f.Eval("tan(x)"), std::tan(a));
  EXPECT_DOUBLE_EQ(f.Eval("sec(x)"), 1.0 / std::cos(a));
  EXPECT_DOUBLE_EQ(f.Eval("csc(x)"), 1.0 / std::sin(a));
  EXPECT_DOUBLE_EQ(f.Eval("cot(x)"), 1.0 / std::tan(a));
  EXPECT_DOUBLE_EQ(f.Eval("arcsin(x)"), std::asin(a));
  EXPECT_DOUBLE_EQ(f.Eval("arccos(x)"), std::acos(a));
  EXPECT_DOUBLE_EQ(f.Eval("arctan(x)"), std::atan(a));
  EXPECT_DOUBLE_EQ(f.Eval("arcsec(2)"), std::numbers::pi / 3);
  EXPECT_DOUBLE_EQ(f.Eval("arccsc(2)"), std::numbers::pi / 6);
  EXPECT_DOUBLE_EQ(f.Eval("arccot(1)"), std::numbers::pi / 4);
}

TEST(SbmlExprTest, Hyperbolic) {
  Fixture f;
  const double a = 0.7;
  f.values[1] = a;
  EXPECT_DOUBLE_EQ(f.Eval("sinh(x)"), std::sinh(a));
  EXPECT_DOUBLE_EQ(f.Eval("cosh(x)"), std::cosh(a));
  EXPECT_DOUBLE_EQ(f.Eval("tanh(x)"), std::tanh(a));
  EXPECT_DOUBLE_EQ(f.Eval("sech(x)"), 1.0 / std::cosh(a));
  EXPECT_DOUBLE_EQ(f.Eval("csch(x)"), 1.0 / std::sinh(a));
  EXPECT_DOUBLE_EQ(f.Eval("coth(x)"), 1.0 / std::tanh(a));
  EXPECT_DOUBLE_EQ(f.Eval("arcsinh(x)"), std::asinh(a));
  EXPECT_DOUBLE_EQ(f.Eval("arccosh(2)"), std::acosh(2.0));
  EXPECT_DOUBLE_EQ(f.Eval("arctanh(x)"), std::atanh(a));
  EXPECT_DOUBLE_EQ(f.Eval("arcsech(x)"), std::acosh(1.0 / a));
  EXPECT_DOUBLE_EQ(f.Eval("arccsch(x)"), std::asinh(1.0 / a));
  EXPECT_DOUBLE_EQ(f.Eval("arccoth(2)"), std::atanh(0.5));
}

TEST(SbmlExprTest, PiecewiseChoosesFirstTrueAndIsLazy) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("piecewise(1, x < 0, 2, x < 5, 3)"), 2.0);
  EXPECT_DOUBLE_EQ(f.Eval("piecewise(1, x > 0, 2, x > 1, 3)"), 1.0);  // first true wins
  EXPECT_DOUBLE_EQ(f.Eval("piecewise(1, x < 0, 3)"), 3.0);            // otherwise
  EXPECT_TRUE(std::isnan(f.Eval("piecewise(1, x < 0)")));             // no match
  // The NaN branch is never chosen, and an unchosen branch does not leak onto the stack.
  EXPECT_DOUBLE_EQ(f.Eval("piecewise(0/0, x < 0, sqrt(-1), x > 10, 7)"), 7.0);
  EXPECT_DOUBLE_EQ(f.Eval("1 + piecewise(10, y > 0, 20) * 2"), 41.0);
  EXPECT_DOUBLE_EQ(f.Eval("piecewise(piecewise(5, z > 0, 6), x > 0, 8) + 1"), 6.0);
}

TEST(SbmlExprTest, RelationalChains) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("x > y"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("x <= 3"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("x != 3"), 0.0);
  EXPECT_DOUBLE_EQ(f.Eval("x == 3"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("lt(y, z, x)"), 1.0);  // -2 < 0.5 < 3
  EXPECT_DOUBLE_EQ(f.Eval("lt(y, x, z)"), 0.0);  // 3 < 0.5 fails
  EXPECT_DOUBLE_EQ(f.Eval("geq(3, 3, 2)"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("eq(1, 1, 2)"), 0.0);
}

TEST(SbmlExprTest, Logicals) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("x > 0 && y > 0"), 0.0);
  EXPECT_DOUBLE_EQ(f.Eval("x > 0 || y > 0"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("!(x > 0)"), 0.0);
  EXPECT_DOUBLE_EQ(f.Eval("and(true, true, false)"), 0.0);
  EXPECT_DOUBLE_EQ(f.Eval("or(false, false, true)"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("xor(true, true, true)"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("xor(true, true)"), 0.0);
  EXPECT_DOUBLE_EQ(f.Eval("implies(false, false)"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("implies(true, false)"), 0.0);
  EXPECT_DOUBLE_EQ(f.Eval("implies(true, true)"), 1.0);
}

TEST(SbmlExprTest, MinMaxRemQuotient) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("min(x, y, z)"), -2.0);
  EXPECT_DOUBLE_EQ(f.Eval("max(x, y, z)"), 3.0);
  EXPECT_DOUBLE_EQ(f.Eval("max(4)"), 4.0);
  EXPECT_DOUBLE_EQ(f.Eval("rem(7, 3)"), 1.0);
  EXPECT_DOUBLE_EQ(f.Eval("rem(-7, 3)"), -1.0);  // sign of the dividend
  EXPECT_DOUBLE_EQ(f.Eval("quotient(7, 2)"), 3.0);
  EXPECT_DOUBLE_EQ(f.Eval("quotient(-7, 2)"), -3.0);  // truncated, not floored
}

TEST(SbmlExprTest, RateOfUsesRateSlot) {
  Fixture f;
  EXPECT_DOUBLE_EQ(f.Eval("rateOf(S1) * 4"), -1.0);
  Result<Program> p = f.Build("rateOf(x)");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(p.status().message().find("rateOf(x)"), std::string::npos);
}

TEST(SbmlExprTest, UnknownIdentifierNamesIdAndContext) {
  Fixture f;
  Result<Program> p = f.Build("x + kcat");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("kcat"), std::string::npos);
  EXPECT_NE(p.status().message().find("rule 'r1'"), std::string::npos);
}

TEST(SbmlExprTest, DelayIsUnsupported) {
  Fixture f;
  Result<Program> p = f.Build("delay(x, 1)");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(p.status().message().find("delay()"), std::string::npos);
  EXPECT_NE(p.status().message().find("rule 'r1'"), std::string::npos);
}

// Resolves delayed expression k at tau as 100 k + tau, so the test sees which expression was
// asked for and when.
class RecordingResolver : public DelayResolver {
 public:
  double Delayed(int index, double tau, const double* values) const override {
    return 100.0 * index + tau;
  }
};

TEST(SbmlExprTest, DelayAsksTheResolverForItsExpressionAtTimeMinusDelay) {
  Fixture f;
  std::vector<Program> delayed;
  CompileEnv env = f.Env();
  env.add_delayed = [&](Program x) {
    delayed.push_back(std::move(x));
    return static_cast<int>(delayed.size()) - 1;
  };
  std::unique_ptr<ASTNode> ast(SBML_parseL3Formula("delay(x * 2, 0.5) + delay(y, z + 1)"));
  ASSERT_NE(ast, nullptr);
  Result<Program> p = Compile(*ast, env);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->has_delay());
  ASSERT_EQ(delayed.size(), 2u);
  EXPECT_DOUBLE_EQ(delayed[0].Eval(f.values), 6.0);  // x * 2 on the given values
  RecordingResolver resolver;
  // time 2.5: expression 0 at 2.5 - 0.5, expression 1 at 2.5 - (0.5 + 1).
  EXPECT_DOUBLE_EQ(p->Eval(f.values, &resolver), (0.0 + 2.0) + (100.0 + 1.0));
  // Without a resolver a delay has no value: NaN, which the simulator reports.
  EXPECT_TRUE(std::isnan(p->Eval(f.values)));

  std::unique_ptr<ASTNode> negative(SBML_parseL3Formula("delay(x, -2)"));
  Result<Program> bad = Compile(*negative, env);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("a delay must be >= 0"), std::string::npos);
  EXPECT_NE(bad.status().message().find("rule 'r1'"), std::string::npos);
}

TEST(SbmlExprTest, DeepExpressionRejected) {
  Fixture f;
  std::string deep = "1";
  for (int i = 0; i < 300; ++i) deep = "1 + (" + deep + ")";
  Result<Program> p = f.Build(deep);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(p.status().message().find("too deep"), std::string::npos);
  // Left-nested sums keep the stack shallow and are accepted.
  std::string wide = "1";
  for (int i = 0; i < 300; ++i) wide += " + 1";
  EXPECT_DOUBLE_EQ(f.Eval(wide), 301.0);
}

// f(a, b) = a * b + 1; g(a) = f(a, a) - a (nested); h(x) = x + 1 binds a name that the caller
// also uses, so its argument must be evaluated in the caller's scope.
constexpr char kFunctionsSbml[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="m">
    <listOfFunctionDefinitions>
      <functionDefinition id="f">
        <math xmlns="http://www.w3.org/1998/Math/MathML"><lambda>
          <bvar><ci>a</ci></bvar><bvar><ci>b</ci></bvar>
          <apply><plus/><apply><times/><ci>a</ci><ci>b</ci></apply><cn>1</cn></apply>
        </lambda></math>
      </functionDefinition>
      <functionDefinition id="g">
        <math xmlns="http://www.w3.org/1998/Math/MathML"><lambda>
          <bvar><ci>a</ci></bvar>
          <apply><minus/><apply><ci>f</ci><ci>a</ci><ci>a</ci></apply><ci>a</ci></apply>
        </lambda></math>
      </functionDefinition>
      <functionDefinition id="h">
        <math xmlns="http://www.w3.org/1998/Math/MathML"><lambda>
          <bvar><ci>x</ci></bvar><apply><plus/><ci>x</ci><cn>1</cn></apply>
        </lambda></math>
      </functionDefinition>
      <functionDefinition id="loop">
        <math xmlns="http://www.w3.org/1998/Math/MathML"><lambda>
          <bvar><ci>a</ci></bvar><apply><ci>loop</ci><ci>a</ci></apply>
        </lambda></math>
      </functionDefinition>
    </listOfFunctionDefinitions>
  </model>
</sbml>)";

class SbmlExprFunctionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    doc_.reset(readSBMLFromString(kFunctionsSbml));
    ASSERT_EQ(doc_->getNumErrors(LIBSBML_SEV_ERROR), 0u);
    f_.model = doc_->getModel();
  }
  std::unique_ptr<SBMLDocument> doc_;
  Fixture f_;
};

TEST_F(SbmlExprFunctionTest, CallIsInlined) {
  EXPECT_DOUBLE_EQ(f_.Eval("f(x, 2)"), 7.0);
  EXPECT_DOUBLE_EQ(f_.Eval("f(x + 1, y) * 2"), -14.0);  // 4 * -2 + 1 = -7
}

TEST_F(SbmlExprFunctionTest, NestedDefinitions) {
  EXPECT_DOUBLE_EQ(f_.Eval("g(x)"), 7.0);           // 3*3 + 1 - 3
  EXPECT_DOUBLE_EQ(f_.Eval("g(g(2))"), 7.0);        // g(2) = 4 + 1 - 2 = 3, g(3) = 9 + 1 - 3
  EXPECT_DOUBLE_EQ(f_.Eval("f(g(1), h(x))"), 5.0);  // g(1) = 1, h(3) = 4: 1*4 + 1
}

TEST_F(SbmlExprFunctionTest, ArgumentsEvaluatedInCallerScope) {
  // h's bound x is the caller's y, not the model's x.
  EXPECT_DOUBLE_EQ(f_.Eval("h(y)"), -1.0);
  EXPECT_DOUBLE_EQ(f_.Eval("h(h(x))"), 5.0);
}

TEST_F(SbmlExprFunctionTest, BadCallsFail) {
  Result<Program> p = f_.Build("loop(1)");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("loop"), std::string::npos);
  p = f_.Build("f(1)");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  p = f_.Build("nosuch(1)");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("nosuch"), std::string::npos);
}

}  // namespace
}  // namespace medtwin::sbml
