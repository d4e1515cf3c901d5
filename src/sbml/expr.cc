#include "sbml/expr.h"

#include <sbml/SBMLTypes.h>
#include <sbml/math/ASTNode.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace medtwin::sbml {

// Flat instruction set. Unary and binary ops work in place on the stack top; n-ary ops (kMin..kXor,
// relational) pop Instr::n values and push one; jumps take their target from Instr::n.
enum class Program::Op : uint8_t {
  kConst,
  kVar,
  // Binary arithmetic.
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kRoot,     // x^(1/degree), degree below x
  kLogBase,  // log(x)/log(base), base below x
  kRem,
  kQuotient,
  kImplies,
  // Unary.
  kNeg,
  kNot,
  kAbs,
  kExp,
  kLn,
  kLog10,
  kSqrt,
  kFloor,
  kCeil,
  kFactorial,
  kSin,
  kCos,
  kTan,
  kSec,
  kCsc,
  kCot,
  kSinh,
  kCosh,
  kTanh,
  kSech,
  kCsch,
  kCoth,
  kAsin,
  kAcos,
  kAtan,
  kAsec,
  kAcsc,
  kAcot,
  kAsinh,
  kAcosh,
  kAtanh,
  kAsech,
  kAcsch,
  kAcoth,
  // N-ary.
  kMin,
  kMax,
  kAnd,
  kOr,
  kXor,
  kEq,
  kNeq,
  kGt,
  kLt,
  kGeq,
  kLeq,
  // delay(x, d): pops d, pushes x at time - d (Instr::slot numbers the delayed expression).
  kDelay,
  // Control flow for piecewise.
  kJump,
  kJumpIfFalse,  // pops the condition
};

namespace {

using Op = Program::Op;

constexpr int kMaxStack = 256;       // Eval's fixed stack
constexpr int kMaxAstDepth = 1000;   // guards the compiler's own recursion
constexpr int kMaxInlineDepth = 64;  // nested function-definition calls
constexpr size_t kMaxCode = 65535;   // jump targets are uint16_t
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Unary functions in Op order from kNeg to kAcoth (checked by the static_assert below).
using UnaryFn = double (*)(double);
constexpr UnaryFn kUnaryFns[] = {
    [](double x) { return -x; },
    [](double x) { return x != 0.0 ? 0.0 : 1.0; },
    [](double x) { return std::fabs(x); },
    [](double x) { return std::exp(x); },
    [](double x) { return std::log(x); },
    [](double x) { return std::log10(x); },
    [](double x) { return std::sqrt(x); },
    [](double x) { return std::floor(x); },
    [](double x) { return std::ceil(x); },
    [](double x) { return std::tgamma(x + 1.0); },
    [](double x) { return std::sin(x); },
    [](double x) { return std::cos(x); },
    [](double x) { return std::tan(x); },
    [](double x) { return 1.0 / std::cos(x); },
    [](double x) { return 1.0 / std::sin(x); },
    [](double x) { return std::cos(x) / std::sin(x); },
    [](double x) { return std::sinh(x); },
    [](double x) { return std::cosh(x); },
    [](double x) { return std::tanh(x); },
    [](double x) { return 1.0 / std::cosh(x); },
    [](double x) { return 1.0 / std::sinh(x); },
    [](double x) { return std::cosh(x) / std::sinh(x); },
    [](double x) { return std::asin(x); },
    [](double x) { return std::acos(x); },
    [](double x) { return std::atan(x); },
    [](double x) { return std::acos(1.0 / x); },
    [](double x) { return std::asin(1.0 / x); },
    [](double x) { return std::atan(1.0 / x); },
    [](double x) { return std::asinh(x); },
    [](double x) { return std::acosh(x); },
    [](double x) { return std::atanh(x); },
    [](double x) { return std::acosh(1.0 / x); },
    [](double x) { return std::asinh(1.0 / x); },
    [](double x) { return std::atanh(1.0 / x); },
};
static_assert(std::size(kUnaryFns) ==
              static_cast<size_t>(Op::kAcoth) - static_cast<size_t>(Op::kNeg) + 1);

double Unary(Op op, double x) {
  return kUnaryFns[static_cast<size_t>(op) - static_cast<size_t>(Op::kNeg)](x);
}

double Binary(Op op, double a, double b) {
  switch (op) {
    case Op::kAdd:
      return a + b;
    case Op::kSub:
      return a - b;
    case Op::kMul:
      return a * b;
    case Op::kDiv:
      return a / b;
    case Op::kPow:
      return std::pow(a, b);
    case Op::kRoot:
      return std::pow(b, 1.0 / a);
    case Op::kLogBase:
      return std::log(b) / std::log(a);
    // SBML L3V2: rem has the sign of the dividend, quotient truncates toward zero.
    case Op::kRem:
      return std::fmod(a, b);
    case Op::kQuotient:
      return std::trunc(a / b);
    case Op::kImplies:
      return (a == 0.0 || b != 0.0) ? 1.0 : 0.0;
    default:
      return kNaN;
  }
}

bool Holds(Op op, double a, double b) {
  switch (op) {
    case Op::kEq:
      return a == b;
    case Op::kNeq:
      return a != b;
    case Op::kGt:
      return a > b;
    case Op::kLt:
      return a < b;
    case Op::kGeq:
      return a >= b;
    default:
      return a <= b;  // kLeq
  }
}

// Folds v[0..n) for an n-ary op. Relational ops are chained: all adjacent pairs must hold.
double Nary(Op op, const double* v, int n) {
  switch (op) {
    case Op::kMin:
    case Op::kMax: {
      double r = v[0];
      for (int i = 1; i < n; ++i) {
        if (std::isnan(v[i]) || std::isnan(r)) return kNaN;
        r = (op == Op::kMin) == (v[i] < r) ? v[i] : r;
      }
      return r;
    }
    case Op::kAnd:
    case Op::kOr:
    case Op::kXor: {
      int trues = 0;
      for (int i = 0; i < n; ++i) trues += v[i] != 0.0;
      if (op == Op::kAnd) return trues == n ? 1.0 : 0.0;
      if (op == Op::kOr) return trues > 0 ? 1.0 : 0.0;
      return trues % 2 == 1 ? 1.0 : 0.0;
    }
    default:
      for (int i = 0; i + 1 < n; ++i) {
        if (!Holds(op, v[i], v[i + 1])) return 0.0;
      }
      return 1.0;
  }
}

bool IsBinary(Op op) { return op >= Op::kAdd && op <= Op::kImplies; }
bool IsUnary(Op op) { return op >= Op::kNeg && op <= Op::kAcoth; }

}  // namespace

double Program::Eval(const double* values, const DelayResolver* delays) const {
  double stack[kMaxStack];
  int sp = 0;
  const Instr* code = code_.data();
  const size_t size = code_.size();
  size_t pc = 0;
  while (pc < size) {
    const Instr& in = code[pc++];
    switch (in.op) {
      case Op::kConst:
        stack[sp++] = in.value;
        break;
      case Op::kVar:
        stack[sp++] = values[in.slot];
        break;
      case Op::kAdd:
        --sp;
        stack[sp - 1] += stack[sp];
        break;
      case Op::kSub:
        --sp;
        stack[sp - 1] -= stack[sp];
        break;
      case Op::kMul:
        --sp;
        stack[sp - 1] *= stack[sp];
        break;
      case Op::kDiv:
        --sp;
        stack[sp - 1] /= stack[sp];
        break;
      case Op::kDelay:
        // A negative delay is invalid SBML; NaN lets the simulator report it with the id.
        stack[sp - 1] = delays != nullptr && stack[sp - 1] >= 0.0
                            ? delays->Delayed(in.slot, values[0] - stack[sp - 1], values)
                            : kNaN;
        break;
      case Op::kJump:
        pc = in.n;
        break;
      case Op::kJumpIfFalse:
        if (stack[--sp] == 0.0) pc = in.n;
        break;
      default:
        if (IsUnary(in.op)) {
          stack[sp - 1] = Unary(in.op, stack[sp - 1]);
        } else if (IsBinary(in.op)) {
          --sp;
          stack[sp - 1] = Binary(in.op, stack[sp - 1], stack[sp]);
        } else {
          sp -= in.n;
          stack[sp] = Nary(in.op, stack + sp, in.n);
          ++sp;
        }
    }
  }
  return sp > 0 ? stack[sp - 1] : kNaN;
}

std::vector<int> Program::ReadSlots() const {
  std::vector<int> slots;
  for (const Instr& in : code_) {
    if (in.op == Op::kVar) slots.push_back(in.slot);
  }
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

namespace {

// Bindings of one inlined function call: bvar name -> argument AST, compiled in `caller` scope.
struct Scope {
  std::vector<std::pair<std::string, const ASTNode*>> args;
  const Scope* caller = nullptr;
};

// MathML elements compiled to one unary op on their single argument.
constexpr std::pair<ASTNodeType_t, Op> kUnaryAst[] = {
    {AST_FUNCTION_ABS, Op::kAbs},       {AST_FUNCTION_EXP, Op::kExp},
    {AST_FUNCTION_LN, Op::kLn},         {AST_FUNCTION_FLOOR, Op::kFloor},
    {AST_FUNCTION_CEILING, Op::kCeil},  {AST_FUNCTION_FACTORIAL, Op::kFactorial},
    {AST_FUNCTION_SIN, Op::kSin},       {AST_FUNCTION_COS, Op::kCos},
    {AST_FUNCTION_TAN, Op::kTan},       {AST_FUNCTION_SEC, Op::kSec},
    {AST_FUNCTION_CSC, Op::kCsc},       {AST_FUNCTION_COT, Op::kCot},
    {AST_FUNCTION_SINH, Op::kSinh},     {AST_FUNCTION_COSH, Op::kCosh},
    {AST_FUNCTION_TANH, Op::kTanh},     {AST_FUNCTION_SECH, Op::kSech},
    {AST_FUNCTION_CSCH, Op::kCsch},     {AST_FUNCTION_COTH, Op::kCoth},
    {AST_FUNCTION_ARCSIN, Op::kAsin},   {AST_FUNCTION_ARCCOS, Op::kAcos},
    {AST_FUNCTION_ARCTAN, Op::kAtan},   {AST_FUNCTION_ARCSEC, Op::kAsec},
    {AST_FUNCTION_ARCCSC, Op::kAcsc},   {AST_FUNCTION_ARCCOT, Op::kAcot},
    {AST_FUNCTION_ARCSINH, Op::kAsinh}, {AST_FUNCTION_ARCCOSH, Op::kAcosh},
    {AST_FUNCTION_ARCTANH, Op::kAtanh}, {AST_FUNCTION_ARCSECH, Op::kAsech},
    {AST_FUNCTION_ARCCSCH, Op::kAcsch}, {AST_FUNCTION_ARCCOTH, Op::kAcoth},
    {AST_LOGICAL_NOT, Op::kNot},
};

// MathML elements compiled to one binary op on their two arguments.
constexpr std::pair<ASTNodeType_t, Op> kBinaryAst[] = {
    {AST_DIVIDE, Op::kDiv},
    {AST_POWER, Op::kPow},
    {AST_FUNCTION_POWER, Op::kPow},
    {AST_FUNCTION_REM, Op::kRem},
    {AST_FUNCTION_QUOTIENT, Op::kQuotient},
    {AST_LOGICAL_IMPLIES, Op::kImplies},
};

// MathML elements compiled to one n-ary op over all their arguments.
constexpr std::pair<ASTNodeType_t, Op> kNaryAst[] = {
    {AST_FUNCTION_MIN, Op::kMin},   {AST_FUNCTION_MAX, Op::kMax},   {AST_LOGICAL_AND, Op::kAnd},
    {AST_LOGICAL_OR, Op::kOr},      {AST_LOGICAL_XOR, Op::kXor},    {AST_RELATIONAL_EQ, Op::kEq},
    {AST_RELATIONAL_NEQ, Op::kNeq}, {AST_RELATIONAL_GT, Op::kGt},   {AST_RELATIONAL_LT, Op::kLt},
    {AST_RELATIONAL_GEQ, Op::kGeq}, {AST_RELATIONAL_LEQ, Op::kLeq},
};

// The op `t` maps to in `table`, or kConst if none.
template <size_t N>
Op Lookup(const std::pair<ASTNodeType_t, Op> (&table)[N], ASTNodeType_t t) {
  for (const auto& [type, op] : table) {
    if (type == t) return op;
  }
  return Op::kConst;
}

class Compiler {
 public:
  explicit Compiler(const CompileEnv& env) : env_(env) {}

  Result<Program> Run(const ASTNode& math) {
    MEDTWIN_RETURN_IF_ERROR(Node(math, nullptr));
    if (prog_.code_.size() > kMaxCode) return Fail(StatusCode::kUnsupported, "expression too long");
    return std::move(prog_);
  }

 private:
  Status Fail(StatusCode code, const std::string& what) const {
    if (env_.context.empty()) return {code, what};
    return {code, env_.context + ": " + what};
  }

  Status Emit(Op op, int pops, int pushes, uint16_t n = 0, int32_t slot = 0, double v = 0.0) {
    prog_.code_.push_back({op, n, slot, v});
    depth_ += pushes - pops;
    prog_.max_stack_ = std::max(prog_.max_stack_, depth_);
    if (depth_ > kMaxStack) return Fail(StatusCode::kUnsupported, "expression too deep");
    return Status::Ok();
  }
  Status Const(double v) { return Emit(Op::kConst, 0, 1, 0, 0, v); }

  Status Children(const ASTNode& node, const Scope* scope) {
    for (unsigned i = 0; i < node.getNumChildren(); ++i) {
      MEDTWIN_RETURN_IF_ERROR(Node(*node.getChild(i), scope));
    }
    return Status::Ok();
  }

  Status Arity(const ASTNode& node, unsigned lo, unsigned hi) const {
    const unsigned n = node.getNumChildren();
    if (n >= lo && n <= hi) return Status::Ok();
    return Fail(StatusCode::kInvalidArgument,
                std::string("'") + Describe(node) + "' has " + std::to_string(n) + " arguments");
  }

  static std::string Describe(const ASTNode& node) {
    if (node.getName() != nullptr) return node.getName();
    if (node.getOperatorName() != nullptr) return node.getOperatorName();
    return "AST type " + std::to_string(static_cast<int>(node.getType()));
  }

  Status Node(const ASTNode& node, const Scope* scope) {
    if (++ast_depth_ > kMaxAstDepth) return Fail(StatusCode::kUnsupported, "expression too deep");
    Status st = Dispatch(node, scope);
    --ast_depth_;
    return st;
  }

  Status Dispatch(const ASTNode& node, const Scope* scope) {
    const ASTNodeType_t t = node.getType();
    if (Op op = Lookup(kUnaryAst, t); op != Op::kConst) {
      MEDTWIN_RETURN_IF_ERROR(Arity(node, 1, 1));
      MEDTWIN_RETURN_IF_ERROR(Children(node, scope));
      return Emit(op, 1, 1);
    }
    if (Op op = Lookup(kBinaryAst, t); op != Op::kConst) {
      MEDTWIN_RETURN_IF_ERROR(Arity(node, 2, 2));
      MEDTWIN_RETURN_IF_ERROR(Children(node, scope));
      return Emit(op, 2, 1);
    }
    if (Op op = Lookup(kNaryAst, t); op != Op::kConst) return Nary(node, op, scope);
    switch (t) {
      case AST_PLUS:
        return Fold(node, Op::kAdd, 0.0, scope);
      case AST_TIMES:
        return Fold(node, Op::kMul, 1.0, scope);
      case AST_MINUS:
        return Minus(node, scope);
      case AST_FUNCTION_ROOT:
        return Root(node, scope);
      case AST_FUNCTION_LOG:
        return Log(node, scope);
      case AST_FUNCTION_PIECEWISE:
        return Piecewise(node, scope);
      case AST_FUNCTION:
        return Call(node, scope);
      case AST_NAME:
        return Name(node, scope);
      case AST_FUNCTION_RATE_OF:
        return RateOf(node, scope);
      case AST_FUNCTION_DELAY:
        return Delay(node, scope);
      default:
        return Leaf(node);
    }
  }

  Status Leaf(const ASTNode& node) {
    switch (node.getType()) {
      case AST_INTEGER:
        return Const(static_cast<double>(node.getInteger()));
      case AST_REAL:
      case AST_REAL_E:
      case AST_RATIONAL:
      case AST_NAME_AVOGADRO:
        return Const(node.getReal());
      case AST_NAME_TIME:
        return Emit(Op::kVar, 0, 1, 0, 0);
      case AST_CONSTANT_E:
        return Const(std::numbers::e);
      case AST_CONSTANT_PI:
        return Const(std::numbers::pi);
      case AST_CONSTANT_TRUE:
        return Const(1.0);
      case AST_CONSTANT_FALSE:
        return Const(0.0);
      default:
        return Fail(StatusCode::kUnsupported,
                    "MathML construct '" + Describe(node) + "' is not supported");
    }
  }

  // Left fold of a binary op; `identity` for zero arguments.
  Status Fold(const ASTNode& node, Op op, double identity, const Scope* scope) {
    const unsigned n = node.getNumChildren();
    if (n == 0) return Const(identity);
    MEDTWIN_RETURN_IF_ERROR(Node(*node.getChild(0), scope));
    for (unsigned i = 1; i < n; ++i) {
      MEDTWIN_RETURN_IF_ERROR(Node(*node.getChild(i), scope));
      MEDTWIN_RETURN_IF_ERROR(Emit(op, 2, 1));
    }
    return Status::Ok();
  }

  Status Nary(const ASTNode& node, Op op, const Scope* scope) {
    const unsigned n = node.getNumChildren();
    if ((op == Op::kMin || op == Op::kMax) && n == 0) return Arity(node, 1, kMaxStack);
    MEDTWIN_RETURN_IF_ERROR(Children(node, scope));
    return Emit(op, static_cast<int>(n), 1, static_cast<uint16_t>(n));
  }

  Status Minus(const ASTNode& node, const Scope* scope) {
    MEDTWIN_RETURN_IF_ERROR(Arity(node, 1, 2));
    MEDTWIN_RETURN_IF_ERROR(Children(node, scope));
    return node.getNumChildren() == 1 ? Emit(Op::kNeg, 1, 1) : Emit(Op::kSub, 2, 1);
  }

  // root(x) or root(degree, x): libSBML puts the degree first.
  Status Root(const ASTNode& node, const Scope* scope) {
    MEDTWIN_RETURN_IF_ERROR(Arity(node, 1, 2));
    MEDTWIN_RETURN_IF_ERROR(Children(node, scope));
    return node.getNumChildren() == 1 ? Emit(Op::kSqrt, 1, 1) : Emit(Op::kRoot, 2, 1);
  }

  // log(x) is base 10; log(base, x) with the base first.
  Status Log(const ASTNode& node, const Scope* scope) {
    MEDTWIN_RETURN_IF_ERROR(Arity(node, 1, 2));
    MEDTWIN_RETURN_IF_ERROR(Children(node, scope));
    return node.getNumChildren() == 1 ? Emit(Op::kLog10, 1, 1) : Emit(Op::kLogBase, 2, 1);
  }

  // Children are value1, cond1, value2, cond2, ..., [otherwise]. Conditions are tested in order
  // and only the chosen value is evaluated, so a branch that would be NaN or inf costs nothing.
  Status Piecewise(const ASTNode& node, const Scope* scope) {
    const unsigned n = node.getNumChildren();
    const int base = depth_;
    std::vector<size_t> to_end;
    for (unsigned i = 0; i + 1 < n; i += 2) {
      MEDTWIN_RETURN_IF_ERROR(Node(*node.getChild(i + 1), scope));
      const size_t skip = prog_.code_.size();
      MEDTWIN_RETURN_IF_ERROR(Emit(Op::kJumpIfFalse, 1, 0));
      MEDTWIN_RETURN_IF_ERROR(Node(*node.getChild(i), scope));
      to_end.push_back(prog_.code_.size());
      MEDTWIN_RETURN_IF_ERROR(Emit(Op::kJump, 0, 0));
      depth_ = base;
      MEDTWIN_RETURN_IF_ERROR(Patch(skip));
    }
    MEDTWIN_RETURN_IF_ERROR(n % 2 == 1 ? Node(*node.getChild(n - 1), scope) : Const(kNaN));
    for (size_t at : to_end) MEDTWIN_RETURN_IF_ERROR(Patch(at));
    return Status::Ok();
  }

  // Points the jump at `at` to the next instruction to be emitted.
  Status Patch(size_t at) {
    const size_t target = prog_.code_.size();
    if (target > kMaxCode) return Fail(StatusCode::kUnsupported, "expression too long");
    prog_.code_[at].n = static_cast<uint16_t>(target);
    return Status::Ok();
  }

  // A bound variable of the innermost inlined function, or null.
  static const std::pair<std::string, const ASTNode*>* Bound(const std::string& id,
                                                             const Scope* scope) {
    if (scope == nullptr) return nullptr;
    for (const auto& arg : scope->args) {
      if (arg.first == id) return &arg;
    }
    return nullptr;
  }

  Status Name(const ASTNode& node, const Scope* scope) {
    const std::string id = node.getName() != nullptr ? node.getName() : "";
    if (const auto* arg = Bound(id, scope)) return Node(*arg->second, scope->caller);
    const int slot = env_.slot ? env_.slot(id) : -1;
    if (slot < 0) return Fail(StatusCode::kInvalidArgument, "unknown identifier '" + id + "'");
    return Emit(Op::kVar, 0, 1, 0, slot);
  }

  Status RateOf(const ASTNode& node, const Scope* scope) {
    MEDTWIN_RETURN_IF_ERROR(Arity(node, 1, 1));
    const ASTNode* arg = node.getChild(0);
    // Follow function arguments back to the caller's expression.
    while (arg->getType() == AST_NAME && scope != nullptr) {
      const auto* bound = Bound(arg->getName(), scope);
      if (bound == nullptr) break;
      arg = bound->second;
      scope = scope->caller;
    }
    const std::string what = "rateOf(" + Describe(*arg) + ") is not supported here";
    if (arg->getType() != AST_NAME || !env_.rate_slot) {
      return Fail(StatusCode::kUnsupported, what);
    }
    const int slot = env_.rate_slot(arg->getName());
    if (slot < 0) return Fail(StatusCode::kUnsupported, what);
    return Emit(Op::kVar, 0, 1, 0, slot);
  }

  // delay(x, d): x becomes a program of its own (evaluated on the past's value array), d is
  // computed in line.
  Status Delay(const ASTNode& node, const Scope* scope) {
    MEDTWIN_RETURN_IF_ERROR(Arity(node, 2, 2));
    if (!env_.add_delayed) return Fail(StatusCode::kUnsupported, "delay() is not supported here");
    Compiler x(env_);
    x.inline_depth_ = inline_depth_;
    x.ast_depth_ = ast_depth_;
    MEDTWIN_RETURN_IF_ERROR(x.Node(*node.getChild(0), scope));
    if (x.prog_.code_.size() > kMaxCode)
      return Fail(StatusCode::kUnsupported, "expression too long");
    // A delay that is a negative constant is refused here; one that becomes negative while
    // the model runs evaluates to NaN, which the simulator reports.
    Compiler amount(env_);
    amount.inline_depth_ = inline_depth_;
    amount.ast_depth_ = ast_depth_;
    MEDTWIN_RETURN_IF_ERROR(amount.Node(*node.getChild(1), scope));
    if (amount.prog_.ReadSlots().empty() && !amount.prog_.has_delay_) {
      const double time_only = 0.0;
      const double d = amount.prog_.Eval(&time_only);
      if (!(d >= 0.0)) {
        return Fail(StatusCode::kInvalidArgument,
                    "delay() by " + std::to_string(d) + ": a delay must be >= 0");
      }
    }
    const int index = env_.add_delayed(std::move(x.prog_));
    MEDTWIN_RETURN_IF_ERROR(Node(*node.getChild(1), scope));
    prog_.has_delay_ = true;
    return Emit(Op::kDelay, 1, 1, 0, index);
  }

  // Inlines a FunctionDefinition: its body is compiled with each bound variable replaced by the
  // matching argument, which is compiled in the caller's scope.
  Status Call(const ASTNode& node, const Scope* scope) {
    const std::string id = node.getName() != nullptr ? node.getName() : "";
    const ::FunctionDefinition* fd =
        env_.sbml_model != nullptr ? env_.sbml_model->getFunctionDefinition(id) : nullptr;
    if (fd == nullptr || fd->getBody() == nullptr) {
      return Fail(StatusCode::kInvalidArgument, "unknown function '" + id + "'");
    }
    if (fd->getNumArguments() != node.getNumChildren()) {
      return Fail(StatusCode::kInvalidArgument,
                  "function '" + id + "' takes " + std::to_string(fd->getNumArguments()) +
                      " arguments, called with " + std::to_string(node.getNumChildren()));
    }
    if (inline_depth_ >= kMaxInlineDepth) {
      return Fail(StatusCode::kInvalidArgument, "function '" + id + "' nests deeper than " +
                                                    std::to_string(kMaxInlineDepth) +
                                                    " calls (recursive function definitions?)");
    }
    Scope inner{{}, scope};
    for (unsigned i = 0; i < fd->getNumArguments(); ++i) {
      const char* bvar = fd->getArgument(i)->getName();
      inner.args.emplace_back(bvar != nullptr ? bvar : "", node.getChild(i));
    }
    ++inline_depth_;
    Status st = Node(*fd->getBody(), &inner);
    --inline_depth_;
    return st;
  }

  const CompileEnv& env_;
  Program prog_;
  int depth_ = 0;
  int ast_depth_ = 0;
  int inline_depth_ = 0;
};

}  // namespace

Result<Program> Compile(const ::ASTNode& math, const CompileEnv& env) {
  return Compiler(env).Run(math);
}

}  // namespace medtwin::sbml
