// Helpers shared by the built-in models (implemented in model.cc). Not part of the public API.
#ifndef MEDTWIN_SRC_MODEL_MODEL_INTERNAL_H_
#define MEDTWIN_SRC_MODEL_MODEL_INTERNAL_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "medtwin/model.h"
#include "medtwin/status.h"

namespace medtwin::internal {

// Lower bound for parameters that must be strictly positive (rates, volumes, clearances): they
// divide or scale amounts, so zero is excluded; 1e-9 is far below any physiological value in the
// units used (h, L, mg).
inline constexpr double kPositiveLower = 1e-9;

// ASCII case-insensitive equality (names of states, parameters, covariates, observables).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Shortest round-trip-safe text of a number for error messages ("0.5", "nan", "inf").
std::string FormatNumber(double value);

// Log-normal variance from a coefficient of variation (fraction): omega^2 = ln(CV^2 + 1).
double OmegaSquaredFromCv(double cv_fraction);

// Row-major n x n matrix with `diagonal` on its diagonal and zeros elsewhere.
std::vector<double> DiagonalOmega(const std::vector<double>& diagonal);

// Checks the span sizes passed to Model::Individualize: theta and out have one entry per
// parameter, eta is empty or has one per variability parameter, covariates one per covariate.
Status CheckIndividualizeSizes(const ModelSpec& spec, std::span<const double> theta,
                               std::span<const double> eta, std::span<const double> covariates,
                               std::span<const double> out);

// Checks each covariate is finite (NaN allowed when may_be_missing) and within [lower, upper].
// The error names the covariate, its value and the expected range.
Status CheckCovariates(const ModelSpec& spec, std::span<const double> covariates);

// Checks each individual parameter value is finite and within [lower, upper] of its spec.
Status CheckIndividualParameters(const ModelSpec& spec, std::span<const double> p);

}  // namespace medtwin::internal

#endif  // MEDTWIN_SRC_MODEL_MODEL_INTERNAL_H_
