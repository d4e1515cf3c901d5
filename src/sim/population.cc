#include "medtwin/population.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace medtwin {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): decorrelates the per-subject seeds of std::mt19937_64.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Square root of omega (omega = S S^T) via its eigen-decomposition, which also serves
// positive semi-definite matrices (parameters without variability have zero rows).
Eigen::MatrixXd OmegaRoot(const Variability& v) {
  const int k = static_cast<int>(v.parameters.size());
  Eigen::MatrixXd omega(k, k);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) omega(i, j) = v.omega[i * k + j];
  }
  if (k == 0) return omega;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(omega);
  Eigen::VectorXd d = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * d.asDiagonal();
}

double AddResidual(const ResidualError& e, double f, double z) {
  if (e.model == ErrorModel::kExponential) return f * std::exp(e.exponential_sd * z);
  return f + e.Sd(f) * z;
}

// Type-7 quantile (linear interpolation between order statistics; R's and NumPy's default).
double Quantile(std::vector<double>& v, double pct) {
  const double h = (v.size() - 1) * pct / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  const double a = v[lo];
  if (lo + 1 >= v.size()) return a;
  const double b = *std::min_element(v.begin() + lo + 1, v.end());
  return a + (h - lo) * (b - a);
}

struct Job {
  const Model* model;
  const Dataset* regimen;
  const OutputRequest* request;
  const std::vector<double>* theta;
  const PopulationOptions* options;
  Eigen::MatrixXd root;
  std::vector<std::vector<double>> values;  // per arm: [(subject * rows + row) * nobs + obs]
  std::vector<size_t> rows;                 // per arm
  std::vector<PopulationArm>* arms;
  std::atomic<long> next{0};
  std::atomic<bool> failed{false};
  std::atomic<long> steps{0}, rhs{0}, kernel{0}, closed{0};
  Status error;
  std::mutex error_mu;
};

// Simulates virtual subject `k` (global index) with simulator `sim`.
Status SimulateOne(Job& job, Simulator& sim, long k) {
  const int n = job.options->n_subjects;
  const size_t arm = static_cast<size_t>(k / n), subject = static_cast<size_t>(k % n);
  std::mt19937_64 rng(SplitMix64(job.options->seed ^ SplitMix64(static_cast<uint64_t>(k))));
  std::normal_distribution<double> normal(0.0, 1.0);
  const int ne = static_cast<int>(job.root.rows());
  Eigen::VectorXd z(ne);
  for (int j = 0; j < ne; ++j) z[j] = normal(rng);
  Eigen::VectorXd eta = job.root * z;
  PopulationArm& out_arm = (*job.arms)[arm];
  std::copy(eta.data(), eta.data() + ne, out_arm.eta.begin() + subject * ne);
  auto out = sim.Run(*job.regimen, arm, *job.request,
                     {*job.theta, std::span<const double>(eta.data(), ne)});
  if (!out.ok()) {
    return out.status().WithContext("virtual subject " + std::to_string(subject + 1) + " of arm " +
                                    job.regimen->subjects[arm].id);
  }
  const size_t rows = job.rows[arm];
  const int nobs = job.model->num_observables();
  if (out->rows() != rows)
    return Status::Internal("population: row count differs between subjects");
  double* dst = job.values[arm].data() + subject * rows * nobs;
  for (size_t i = 0; i < rows * nobs; ++i) {
    const auto& err = job.model->spec().observables[i % nobs].error;
    dst[i] = job.options->residual_error ? AddResidual(err, out->observables[i], normal(rng))
                                         : out->observables[i];
  }
  job.steps += out->summary.steps;
  job.rhs += out->summary.rhs_evals;
  job.kernel += out->summary.kernel_evals;
  if (out->summary.path == SimPath::kClosedForm) ++job.closed;
  return Status::Ok();
}

void Worker(Job& job, long total) {
  Simulator sim(*job.model, job.options->sim);
  for (long k = job.next++; k < total && !job.failed; k = job.next++) {
    Status st = SimulateOne(job, sim, k);
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(job.error_mu);
      if (!job.failed.exchange(true)) job.error = st;
    }
  }
}

// The output rows of an arm: simulate its typical subject once.
Status PrepareArms(Job& job) {
  Simulator sim(*job.model, job.options->sim);
  const size_t narms = job.regimen->subjects.size();
  const int nobs = job.model->num_observables();
  const size_t ne = job.model->spec().variability.parameters.size();
  job.arms->resize(narms);
  job.values.resize(narms);
  job.rows.resize(narms);
  for (size_t a = 0; a < narms; ++a) {
    auto out = sim.Run(*job.regimen, a, *job.request, {*job.theta, {}});
    if (!out.ok())
      return out.status().WithContext("typical subject of arm " + job.regimen->subjects[a].id);
    PopulationArm& arm = (*job.arms)[a];
    arm.id = job.regimen->subjects[a].id;
    arm.time_h = out->time_h;
    arm.eta.assign(job.options->n_subjects * ne, 0.0);
    job.rows[a] = out->rows();
    job.values[a].assign(job.options->n_subjects * out->rows() * nobs, 0.0);
  }
  return Status::Ok();
}

void Summarise(Job& job) {
  const int nobs = job.model->num_observables();
  const auto& pcts = job.options->percentiles;
  std::vector<double> column(job.options->n_subjects);
  for (size_t a = 0; a < job.arms->size(); ++a) {
    PopulationArm& arm = (*job.arms)[a];
    const size_t rows = job.rows[a];
    arm.percentiles.assign(rows * nobs * pcts.size(), 0.0);
    for (size_t r = 0; r < rows; ++r) {
      for (int o = 0; o < nobs; ++o) {
        for (int s = 0; s < job.options->n_subjects; ++s) {
          column[s] = job.values[a][(s * rows + r) * nobs + o];
        }
        for (size_t k = 0; k < pcts.size(); ++k) {
          arm.percentiles[(r * nobs + o) * pcts.size() + k] = Quantile(column, pcts[k]);
        }
      }
    }
    if (job.options->keep_all) arm.all = std::move(job.values[a]);
  }
}

}  // namespace

Status PopulationOptions::Validate() const {
  if (n_subjects < 1)
    return Status::Invalid("option n: expected >= 1, got " + std::to_string(n_subjects));
  if (threads < 1)
    return Status::Invalid("option threads: expected >= 1, got " + std::to_string(threads));
  if (percentiles.empty()) return Status::Invalid("option percentiles: at least one is needed");
  for (size_t i = 0; i < percentiles.size(); ++i) {
    const double p = percentiles[i];
    if (!(p >= 0.0 && p <= 100.0) || (i > 0 && p <= percentiles[i - 1])) {
      return Status::Invalid("option percentiles: expected ascending values in [0, 100], got " +
                             std::to_string(p));
    }
  }
  return sim.Validate();
}

std::string PopulationSummary::Brief() const {
  std::ostringstream os;
  os << "subjects=" << subjects << " threads=" << threads << " wall=" << wall_time_s << "s"
     << " subjects_per_s=" << subjects_per_second << " closed_form=" << closed_form_subjects
     << " steps=" << steps << " rhs=" << rhs_evals << " kernel_evals=" << kernel_evals;
  return os.str();
}

Result<PopulationResult> RunPopulation(const Model& model, const Dataset& regimen,
                                       const OutputRequest& request,
                                       const std::vector<double>& theta,
                                       const PopulationOptions& options) {
  MEDTWIN_RETURN_IF_ERROR(options.Validate());
  if (regimen.subjects.empty()) return Status::Invalid("regimen has no subjects");
  const auto start = std::chrono::steady_clock::now();
  PopulationResult result;
  Job job;
  job.model = &model;
  job.regimen = &regimen;
  job.request = &request;
  job.theta = &theta;
  job.options = &options;
  job.arms = &result.arms;
  job.root = OmegaRoot(model.spec().variability);
  MEDTWIN_RETURN_IF_ERROR(PrepareArms(job));
  const long total = static_cast<long>(regimen.subjects.size()) * options.n_subjects;
  std::vector<std::thread> pool;
  for (int t = 1; t < options.threads; ++t) pool.emplace_back(Worker, std::ref(job), total);
  Worker(job, total);
  for (auto& t : pool) t.join();
  if (job.failed) return job.error;
  Summarise(job);
  PopulationSummary& s = result.summary;
  s.subjects = total;
  s.threads = options.threads;
  s.wall_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  s.subjects_per_second = total / s.wall_time_s;
  s.steps = job.steps;
  s.rhs_evals = job.rhs;
  s.kernel_evals = job.kernel;
  s.closed_form_subjects = job.closed;
  return result;
}

}  // namespace medtwin
