// The particle filter's analysis step (include/medtwin/assimilate.h, kPf): weights, progressive
// correction, resampling and the regularisation kernel. Internal to src/estimate.
#ifndef MEDTWIN_ESTIMATE_PARTICLE_UPDATE_H_
#define MEDTWIN_ESTIMATE_PARTICLE_UPDATE_H_

#include <Eigen/Dense>
#include <random>
#include <vector>

#include "medtwin/assimilate.h"
#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin {

// Particle filter update of the particles x (rows of [state, eta, predicted observables]; the
// observation's prediction in column `col`, on its assimilation scale y) and weights w.
// Bootstrap weights (Gordon et al. 1993) times the likelihood, with progressive correction
// (Oudjane & Musso 2000; Musso, Oudjane & Le Gland 2001): when the whole likelihood would leave
// fewer than half the particles effective, it is applied in stages, each with the largest
// exponent that keeps half (bisection), followed by systematic resampling and the regularisation
// kernel, until the exponents sum to 1, so that no single observation leaves fewer than half the
// particles to carry the posterior. After the last stage, resampling and regularisation when
// fewer than half are effective.
// n: states, q: etas (columns [n, n + q) of x). On error x and w may have changed (callers work
// on copies).
Status ParticleUpdate(const ResidualError& err, double y, int col, const AssimilationOptions& o,
                      int n, int q, Eigen::MatrixXd* x, std::vector<double>* w,
                      std::mt19937_64* rng);

// Systematic resampling (Kitagawa 1996): `count` indices into the weights w (summing to 1), the
// k-th taken where the cumulative weight first reaches u0 + k / count, u0 in [0, 1 / count).
std::vector<int> SystematicIndices(const std::vector<double>& w, int count, double u0);

}  // namespace medtwin

#endif  // MEDTWIN_ESTIMATE_PARTICLE_UPDATE_H_
