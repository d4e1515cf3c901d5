// Hand-written SVG: Debian packages no C++ charting library that writes SVG without a GUI
// toolkit, and the chart is a few primitives (polygon, polyline, circles, text).
#include "svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace medtwin::cli {
namespace {

constexpr double kWidth = 900, kPanelHeight = 360, kLeft = 80, kRight = 30, kTop = 40, kBottom = 60;

std::string F(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string Label(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

std::string Escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

// A "nice" tick step for the range (1, 2 or 5 times a power of ten), about 6 ticks.
double NiceStep(double range) {
  if (!(range > 0)) return 1.0;
  const double raw = range / 6.0, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= raw) return m * p;
  }
  return 10.0 * p;
}

void Panel(std::ostream& os, const PlotPanel& p, double y0) {
  double tmax = 0, vmax = 0;
  for (double t : p.time) tmax = std::max(tmax, t);
  for (double v : p.upper) vmax = std::max(vmax, v);
  for (const auto& l : p.levels) {
    tmax = std::max(tmax, l.time);
    vmax = std::max(vmax, l.value);
  }
  for (const auto& d : p.doses) tmax = std::max(tmax, d.first);
  if (p.target) vmax = std::max(vmax, p.target->second);
  const double tstep = NiceStep(tmax), vstep = NiceStep(vmax * 1.05);
  tmax = std::max(tstep, std::ceil(tmax / tstep) * tstep);
  vmax = std::max(vstep, std::ceil(vmax * 1.05 / vstep) * vstep);
  const double w = kWidth - kLeft - kRight, h = kPanelHeight - kTop - kBottom;
  auto x = [&](double t) { return kLeft + w * t / tmax; };
  auto y = [&](double v) { return y0 + kTop + h * (1.0 - std::clamp(v, 0.0, vmax) / vmax); };
  os << "<text x='" << F(kLeft) << "' y='" << F(y0 + 24) << "' font-size='16' font-weight='bold'>"
     << Escape(p.title) << "</text>\n";
  if (p.target) {
    os << "<rect x='" << F(x(0)) << "' y='" << F(y(p.target->second)) << "' width='" << F(w)
       << "' height='" << F(y(p.target->first) - y(p.target->second))
       << "' fill='#2e7d32' fill-opacity='0.12'/>\n";
    os << "<text x='" << F(x(tmax) - 4) << "' y='" << F(y(p.target->second) + 14)
       << "' font-size='12' text-anchor='end' fill='#2e7d32'>target " << Label(p.target->first)
       << "-" << Label(p.target->second) << " " << Escape(p.value_unit) << "</text>\n";
  }
  // Grid and axes.
  for (double v = 0; v <= vmax + 1e-9 * vmax; v += vstep) {
    os << "<line x1='" << F(x(0)) << "' x2='" << F(x(tmax)) << "' y1='" << F(y(v)) << "' y2='"
       << F(y(v)) << "' stroke='#ddd'/>\n";
    os << "<text x='" << F(kLeft - 8) << "' y='" << F(y(v) + 4)
       << "' font-size='12' text-anchor='end'>" << Label(v) << "</text>\n";
  }
  for (double t = 0; t <= tmax + 1e-9 * tmax; t += tstep) {
    os << "<line x1='" << F(x(t)) << "' x2='" << F(x(t)) << "' y1='" << F(y(0)) << "' y2='"
       << F(y(0) + 5) << "' stroke='#333'/>\n";
    os << "<text x='" << F(x(t)) << "' y='" << F(y(0) + 20)
       << "' font-size='12' text-anchor='middle'>" << Label(t) << "</text>\n";
  }
  os << "<line x1='" << F(x(0)) << "' x2='" << F(x(tmax)) << "' y1='" << F(y(0)) << "' y2='"
     << F(y(0)) << "' stroke='#333'/>\n";
  os << "<line x1='" << F(x(0)) << "' x2='" << F(x(0)) << "' y1='" << F(y(0)) << "' y2='"
     << F(y(vmax)) << "' stroke='#333'/>\n";
  os << "<text x='" << F(kLeft + w / 2) << "' y='" << F(y0 + kPanelHeight - 14)
     << "' font-size='13' text-anchor='middle'>time (" << Escape(p.time_unit) << ")</text>\n";
  os << "<text transform='translate(" << F(22) << "," << F(y0 + kTop + h / 2)
     << ") rotate(-90)' font-size='13' text-anchor='middle'>" << Escape(p.value_unit)
     << "</text>\n";
  // Band and median.
  if (!p.time.empty()) {
    os << "<polygon fill='#1565c0' fill-opacity='0.2' stroke='none' points='";
    for (size_t i = 0; i < p.time.size(); ++i)
      os << F(x(p.time[i])) << "," << F(y(p.upper[i])) << " ";
    for (size_t i = p.time.size(); i-- > 0;)
      os << F(x(p.time[i])) << "," << F(y(p.lower[i])) << " ";
    os << "'/>\n<polyline fill='none' stroke='#1565c0' stroke-width='2' points='";
    for (size_t i = 0; i < p.time.size(); ++i)
      os << F(x(p.time[i])) << "," << F(y(p.median[i])) << " ";
    os << "'/>\n";
  }
  // Doses: triangles on the time axis, amount above.
  for (const auto& [t, amount] : p.doses) {
    const double cx = x(t), cy = y(0);
    os << "<polygon fill='#ef6c00' points='" << F(cx) << "," << F(cy - 10) << " " << F(cx - 5)
       << "," << F(cy) << " " << F(cx + 5) << "," << F(cy) << "'><title>dose " << Label(amount)
       << " " << Escape(p.dose_unit) << " at " << Label(t) << " " << Escape(p.time_unit)
       << "</title></polygon>\n";
  }
  // Measured levels: filled circles; below the limit: an open triangle at the limit.
  for (const auto& l : p.levels) {
    if (l.censored) {
      os << "<polygon fill='white' stroke='#b71c1c' stroke-width='1.5' points='" << F(x(l.time))
         << "," << F(y(l.value) + 6) << " " << F(x(l.time) - 6) << "," << F(y(l.value) - 5) << " "
         << F(x(l.time) + 6) << "," << F(y(l.value) - 5) << "'><title>below " << Label(l.value)
         << "</title></polygon>\n";
    } else {
      os << "<circle cx='" << F(x(l.time)) << "' cy='" << F(y(l.value))
         << "' r='4.5' fill='#b71c1c'><title>" << Label(l.value) << " at " << Label(l.time)
         << "</title></circle>\n";
    }
  }
  // Legend.
  const double lx = kLeft + 10, ly = y0 + kTop + 8;
  os << "<rect x='" << F(lx) << "' y='" << F(ly) << "' width='14' height='10' fill='#1565c0' "
     << "fill-opacity='0.2'/><text x='" << F(lx + 20) << "' y='" << F(ly + 9) << "' font-size='12'>"
     << Escape(p.band_label) << "</text>\n";
  os << "<line x1='" << F(lx) << "' x2='" << F(lx + 14) << "' y1='" << F(ly + 23) << "' y2='"
     << F(ly + 23) << "' stroke='#1565c0' stroke-width='2'/><text x='" << F(lx + 20) << "' y='"
     << F(ly + 27) << "' font-size='12'>median</text>\n";
  os << "<circle cx='" << F(lx + 7) << "' cy='" << F(ly + 39) << "' r='4' fill='#b71c1c'/>"
     << "<text x='" << F(lx + 20) << "' y='" << F(ly + 43)
     << "' font-size='12'>measured level (open triangle: below the limit)</text>\n";
  os << "<polygon fill='#ef6c00' points='" << F(lx + 7) << "," << F(ly + 49) << " " << F(lx + 2)
     << "," << F(ly + 59) << " " << F(lx + 12) << "," << F(ly + 59) << "'/><text x='" << F(lx + 20)
     << "' y='" << F(ly + 59) << "' font-size='12'>dose</text>\n";
}

}  // namespace

void WriteSvg(std::ostream& os, const std::vector<PlotPanel>& panels) {
  const double height = kPanelHeight * std::max<size_t>(1, panels.size());
  os << "<svg xmlns='http://www.w3.org/2000/svg' width='" << F(kWidth) << "' height='" << F(height)
     << "' viewBox='0 0 " << F(kWidth) << " " << F(height)
     << "' font-family='Helvetica, Arial, sans-serif'>\n<rect width='100%' height='100%' "
     << "fill='white'/>\n";
  for (size_t i = 0; i < panels.size(); ++i) Panel(os, panels[i], kPanelHeight * i);
  os << "</svg>\n";
}

}  // namespace medtwin::cli
