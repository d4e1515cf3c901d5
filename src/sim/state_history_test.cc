// StateHistory: interpolation, jumps, the past before the start, truncation, thread binding.
#include "medtwin/state_history.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

namespace medtwin {
namespace {

// x(t) = t^3 - 2 t, dx/dt = 3 t^2 - 2: cubic Hermite interpolation is exact for cubics.
double Cubic(double t) { return t * t * t - 2.0 * t; }
double CubicRate(double t) { return 3.0 * t * t - 2.0; }

void RecordCubic(StateHistory* h, double t) {
  const double x = Cubic(t), dx = CubicRate(t);
  h->Record(t, &x, &dx);
}

double At(const StateHistory& h, double tau) {
  double x = 0.0;
  h.At(tau, &x);
  return x;
}

TEST(StateHistory, HermiteInterpolationIsExactForCubics) {
  StateHistory h(1);
  for (double t : {0.0, 0.3, 1.1, 2.0}) RecordCubic(&h, t);
  for (double tau = 0.0; tau <= 2.0; tau += 0.05) {
    EXPECT_NEAR(At(h, tau), Cubic(tau), 1e-12) << "tau=" << tau;
  }
}

TEST(StateHistory, BeforeTheStartIsTheFirstStateAfterTheEndExtrapolatesLinearly) {
  StateHistory h(1);
  RecordCubic(&h, 1.0);
  RecordCubic(&h, 2.0);
  EXPECT_DOUBLE_EQ(At(h, -5.0), Cubic(1.0));
  EXPECT_DOUBLE_EQ(At(h, 0.999), Cubic(1.0));
  EXPECT_DOUBLE_EQ(At(h, 2.5), Cubic(2.0) + 0.5 * CubicRate(2.0));
}

TEST(StateHistory, AJumpTakesEffectAtItsTimeAndTruncationForgetsTheFuture) {
  StateHistory h(2);
  const double a[2] = {1.0, 10.0}, b[2] = {2.0, 20.0}, c[2] = {5.0, 50.0}, zero[2] = {0, 0};
  h.Record(0.0, a, zero);
  h.Record(1.0, b, zero);
  h.Record(3.0, b, zero);  // the solver stepped past the jump at 2
  h.TruncateAfter(2.0);
  EXPECT_EQ(h.size(), 2u);
  h.Record(2.0, b, zero);  // state just before the jump
  h.Record(2.0, c, zero);  // and after it
  double x[2];
  h.At(2.0, x);
  EXPECT_DOUBLE_EQ(x[0], 5.0);
  EXPECT_DOUBLE_EQ(x[1], 50.0);
  h.At(1.5, x);  // between 1 and the pre-jump record: constant 2
  EXPECT_DOUBLE_EQ(x[0], 2.0);
  EXPECT_DOUBLE_EQ(x[1], 20.0);
}

TEST(StateHistory, AnEarlierRecordIsInsertedInOrder) {
  StateHistory h(1);
  RecordCubic(&h, 0.0);
  RecordCubic(&h, 2.0);
  RecordCubic(&h, 0.5);  // an output inside the last step
  EXPECT_EQ(h.size(), 3u);
  EXPECT_DOUBLE_EQ(h.last_time(), 2.0);
  EXPECT_NEAR(At(h, 1.2), Cubic(1.2), 1e-12);
  const double dx = 7.0;
  h.SetLastDerivative(&dx);
  EXPECT_DOUBLE_EQ(At(h, 2.1), Cubic(2.0) + 0.1 * 7.0);
}

// One state read alone is the same number as that state read with all the others: a cubic in
// the first state, a different cubic in the second, before, inside and after the records.
TEST(StateHistory, OneStateAloneEqualsThatStateOfTheWholeState) {
  StateHistory h(2);
  for (double t : {0.0, 0.4, 1.0, 1.7}) {
    const double x[2] = {Cubic(t), 2.0 * Cubic(t) + 1.0};
    const double dx[2] = {CubicRate(t), 2.0 * CubicRate(t)};
    h.Record(t, x, dx);
  }
  for (double tau = -0.5; tau <= 2.2; tau += 0.1) {
    double x[2];
    h.At(tau, x);
    EXPECT_EQ(h.At(tau, 0), x[0]) << "tau=" << tau;
    EXPECT_EQ(h.At(tau, 1), x[1]) << "tau=" << tau;
    if (tau >= 0.0 && tau <= 1.7) {
      EXPECT_NEAR(h.At(tau, 1), 2.0 * Cubic(tau) + 1.0, 1e-12) << "tau=" << tau;
    }
  }
}

TEST(StateHistory, RecordsAreReadableInTimeOrder) {
  StateHistory h(1);
  for (double t : {0.0, 1.0, 2.0}) RecordCubic(&h, t);
  RecordCubic(&h, 1.5);  // an output inside the last step
  EXPECT_EQ(h.FirstAtOrAfter(-1.0), 0u);
  EXPECT_EQ(h.FirstAtOrAfter(1.0), 1u);  // at: the record itself
  EXPECT_EQ(h.FirstAtOrAfter(1.2), 2u);
  EXPECT_EQ(h.FirstAtOrAfter(2.5), h.size());
  EXPECT_DOUBLE_EQ(h.time(2), 1.5);
  EXPECT_DOUBLE_EQ(h.state(2)[0], Cubic(1.5));
  EXPECT_DOUBLE_EQ(h.state(3)[0], Cubic(2.0));
}

TEST(StateHistory, BindingIsPerThreadAndScoped) {
  StateHistory outer(1), inner(1);
  EXPECT_EQ(StateHistory::Current(), nullptr);
  {
    StateHistory::Scope a(&outer);
    EXPECT_EQ(StateHistory::Current(), &outer);
    {
      StateHistory::Scope b(&inner);
      EXPECT_EQ(StateHistory::Current(), &inner);
    }
    EXPECT_EQ(StateHistory::Current(), &outer);
    const StateHistory* seen = &outer;
    std::thread([&] { seen = StateHistory::Current(); }).join();
    EXPECT_EQ(seen, nullptr);
  }
  EXPECT_EQ(StateHistory::Current(), nullptr);
}

}  // namespace
}  // namespace medtwin

namespace medtwin {
namespace {

TEST(StateHistory, AHorizonBoundsMemoryAndKeepsTheWindowExact) {
  StateHistory h(1);
  h.set_horizon(1.0);
  for (int i = 0; i <= 10000; ++i) RecordCubic(&h, i * 0.01);  // t = 0 .. 100
  EXPECT_LE(h.size(), 301u);        // at most twice the horizon (plus one) of 0.01 steps
  EXPECT_LE(h.first_time(), 99.0);  // the whole window [99, 100] is still there
  for (double tau = 99.0; tau <= 100.0; tau += 0.05) {
    EXPECT_NEAR(At(h, tau), Cubic(tau), 1e-9 * std::fabs(Cubic(tau))) << "tau=" << tau;
  }
}

}  // namespace
}  // namespace medtwin
