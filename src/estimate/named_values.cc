// NamedValues (include/medtwin/assimilate.h): per-state or per-random-effect values from text,
// for the filters' model-error options on the command line and in experiments.
#include "medtwin/assimilate.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace medtwin {

Result<std::vector<double>> NamedValues(const std::vector<std::string>& names,
                                        std::string_view text, std::string_view field) {
  const std::string what(field);
  auto number = [&](const std::string& item, const std::string& v) -> Result<double> {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size()) {
      return Status::Invalid(what + ": '" + item + "' is not a number or NAME=VALUE");
    }
    return x;
  };
  const std::string all(text);
  if (all.find('=') == std::string::npos) {
    auto x = number(all, all);
    if (!x.ok()) return x.status();
    return std::vector<double>(names.size(), *x);
  }
  std::vector<std::pair<std::string, double>> pairs;
  std::stringstream items(all);
  std::string item;
  while (std::getline(items, item, ',')) {
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, std::min(eq, item.size()));
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return NamedValues(names, {{name, 0.0}}, field);  // names the unknown one
    }
    auto x = number(item, eq == std::string::npos ? "" : item.substr(eq + 1));
    if (!x.ok()) return x.status();
    pairs.emplace_back(name, *x);
  }
  return NamedValues(names, pairs, field);
}

Result<std::vector<double>> NamedValues(const std::vector<std::string>& names,
                                        const std::vector<std::pair<std::string, double>>& pairs,
                                        std::string_view field) {
  const std::string what(field);
  std::vector<double> out(names.size(), 0.0);
  std::vector<bool> seen(names.size(), false);
  for (const auto& [name, value] : pairs) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      std::string known;
      for (const std::string& n : names) {
        if (!known.empty()) known += ", ";
        known += n;
      }
      return Status::Invalid(what + ": '" + name + "' is not one of " + known);
    }
    const size_t k = static_cast<size_t>(it - names.begin());
    if (seen[k]) return Status::Invalid(what + ": '" + name + "' is given twice");
    out[k] = value;
    seen[k] = true;
  }
  return out;
}

}  // namespace medtwin
