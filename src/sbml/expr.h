// Compiled SBML math: a libSBML AST turned once into a flat stack program over a value array.
//
// The value array is owned by the caller: slot 0 holds time; every other identifier the math
// names is resolved at compile time to a slot by CompileEnv::slot. Function definitions are
// inlined at compile time (their bodies compiled with the call's arguments substituted).
// Evaluation follows IEEE arithmetic (1/0 = inf), as the SBML Test Suite expects; the simulator
// reports non-finite states with the element id.
//
// Thread safety: Eval is const and allocation-free; one Program may be evaluated concurrently.
#ifndef MEDTWIN_SBML_EXPR_H_
#define MEDTWIN_SBML_EXPR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "medtwin/status.h"

class ASTNode;  // libSBML (global namespace)
class Model;    // libSBML Model (global namespace), for function definitions

namespace medtwin::sbml {

class Program;

// Values of delay(x, d) (SBML csymbol delay): x evaluated at time t - d, from the run's past.
class DelayResolver {
 public:
  virtual ~DelayResolver() = default;
  // Value of delayed expression `index` (as numbered by CompileEnv::add_delayed) at time tau,
  // given the current value array.
  virtual double Delayed(int index, double tau, const double* values) const = 0;
};

struct CompileEnv {
  // Slot of an identifier, or -1 if unknown (compilation then fails naming it).
  std::function<int(const std::string& id)> slot;
  // Slot that holds d(id)/dt for rateOf(id), or -1 (then rateOf is refused as unsupported).
  std::function<int(const std::string& id)> rate_slot;
  // Takes the compiled first argument of a delay(x, d) and returns its index for
  // DelayResolver::Delayed (absent: delay() is refused as unsupported).
  std::function<int(Program x)> add_delayed;
  // The libSBML model, for function definitions (may be null: calls then fail).
  const ::Model* sbml_model = nullptr;
  // Element the math belongs to, for messages ("reaction 'R1' kinetic law").
  std::string context;
};

class Program {
 public:
  // Value of the expression. REQUIRES: values has every slot the program was compiled with;
  // `delays` non-null if the program reads delay() (has_delay()).
  double Eval(const double* values, const DelayResolver* delays = nullptr) const;
  bool has_delay() const { return has_delay_; }
  // Value-array slots the program reads (not those of its delayed sub-expressions).
  std::vector<int> ReadSlots() const;
  bool empty() const { return code_.empty(); }
  size_t size() const { return code_.size(); }

  // Instruction set (public for the compiler; not a stable interface).
  enum class Op : uint8_t;
  struct Instr {
    Op op;
    uint16_t n = 0;      // argument count (n-ary ops) / jump target
    int32_t slot = 0;    // variable slot
    double value = 0.0;  // constant
  };
  std::vector<Instr> code_;
  int max_stack_ = 0;
  bool has_delay_ = false;
};

// Compiles `math`. kUnsupported for delay() without CompileEnv::add_delayed and other constructs
// medtwin does not evaluate, kInvalidArgument for unknown identifiers or malformed trees; messages
// name env.context.
Result<Program> Compile(const ::ASTNode& math, const CompileEnv& env);

}  // namespace medtwin::sbml

#endif  // MEDTWIN_SBML_EXPR_H_
