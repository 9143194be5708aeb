// The budget policy's optimiser: a multiple-choice knapsack solved by dynamic programming over
// bytes (include/ramq/budget.h).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "ramq/budget.h"
#include "ramq/error.h"

namespace ramq {

namespace {

struct FrontOption {
  std::uint64_t extra = 0;  // bytes above the item's smallest option
  double cost = 0;
  std::size_t index = 0;    // in the item's option list
  std::uint64_t cells = 0;  // extra in DP cells
};

// The options no other option beats on both bytes and cost, by increasing bytes (and falling cost).
std::vector<FrontOption> pareto_front(const BudgetItem& item) {
  std::vector<std::size_t> order(item.options.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto &x = item.options[a], &y = item.options[b];
    return x.bytes != y.bytes ? x.bytes < y.bytes : x.cost < y.cost;
  });
  std::vector<FrontOption> front;
  const std::uint64_t base = item.options[order.front()].bytes;
  for (const std::size_t i : order) {
    const auto& o = item.options[i];
    if (!front.empty() && !(o.cost < front.back().cost)) continue;
    front.push_back({o.bytes - base, o.cost, i, 0});
  }
  return front;
}

// Spends `remaining` bytes one option change at a time, largest cost reduction first.
void greedy_fill(const std::vector<BudgetItem>& items, std::uint64_t budget, BudgetSolution& s) {
  for (;;) {
    const std::uint64_t remaining = budget - s.bytes;
    double best_gain = 0;
    std::size_t best_item = 0, best_option = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const BudgetOption& cur = items[i].options[s.choice[i]];
      for (std::size_t j = 0; j < items[i].options.size(); ++j) {
        const BudgetOption& o = items[i].options[j];
        if (o.bytes > cur.bytes && o.bytes - cur.bytes > remaining) continue;
        const double gain = cur.cost - o.cost;
        if (gain > best_gain) {
          best_gain = gain;
          best_item = i;
          best_option = j;
        }
      }
    }
    if (!(best_gain > 0)) return;
    s.bytes = s.bytes - items[best_item].options[s.choice[best_item]].bytes + items[best_item].options[best_option].bytes;
    s.choice[best_item] = best_option;
  }
}

}  // namespace

BudgetSolution solve_budget(const std::vector<BudgetItem>& items, std::uint64_t budget, std::size_t max_cells) {
  BudgetSolution s;
  std::vector<std::vector<FrontOption>> fronts;
  fronts.reserve(items.size());
  for (const auto& item : items) {
    if (item.options.empty()) throw std::invalid_argument("solve_budget: an item has no options");
    fronts.push_back(pareto_front(item));
    std::uint64_t lo = item.options[0].bytes, hi = lo;
    for (const auto& o : item.options) {
      lo = std::min(lo, o.bytes);
      hi = std::max(hi, o.bytes);
    }
    s.min_bytes += lo;
    s.max_bytes += hi;
  }
  if (budget < s.min_bytes) throw std::invalid_argument("solve_budget: budget below the smallest solution");

  // Cells: the common divisor of all extra bytes, or a coarser unit when that would be too many.
  std::uint64_t front_max = 0, divisor = 0;
  for (const auto& f : fronts) {
    front_max += f.back().extra;
    for (const auto& o : f) divisor = std::gcd(divisor, o.extra);
  }
  const std::uint64_t slack = std::min(budget - s.min_bytes, front_max);
  std::uint64_t unit = std::max<std::uint64_t>(divisor, 1);
  if (slack / unit > max_cells) {
    unit = (slack + max_cells - 1) / max_cells;
    s.exact = false;
  }
  s.cell_bytes = unit;
  const std::size_t capacity = static_cast<std::size_t>(slack / unit);
  for (auto& f : fronts)
    for (auto& o : f) o.cells = s.exact ? o.extra / unit : (o.extra + unit - 1) / unit;

  // best[c]: least cost of the items so far using at most c cells; pick[i][c]: item i's option.
  std::vector<double> best(capacity + 1, 0.0), next(capacity + 1);
  std::vector<std::vector<std::uint16_t>> pick(items.size(), std::vector<std::uint16_t>(capacity + 1, 0));
  for (std::size_t i = 0; i < fronts.size(); ++i) {
    const auto& f = fronts[i];
    for (std::size_t c = 0; c <= capacity; ++c) {
      double v = std::numeric_limits<double>::infinity();
      std::uint16_t arg = 0;
      for (std::size_t j = 0; j < f.size() && f[j].cells <= c; ++j) {
        const double cand = best[c - f[j].cells] + f[j].cost;
        if (cand < v) {
          v = cand;
          arg = static_cast<std::uint16_t>(j);
        }
      }
      next[c] = v;
      pick[i][c] = arg;
    }
    best.swap(next);
  }
  s.choice.assign(items.size(), 0);
  std::size_t c = capacity;
  for (std::size_t i = fronts.size(); i-- > 0;) {
    const FrontOption& o = fronts[i][pick[i][c]];
    s.choice[i] = o.index;
    c -= static_cast<std::size_t>(o.cells);
  }
  s.bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) s.bytes += items[i].options[s.choice[i]].bytes;
  greedy_fill(items, budget, s);
  s.cost = 0;
  for (std::size_t i = 0; i < items.size(); ++i) s.cost += items[i].options[s.choice[i]].cost;
  return s;
}

std::uint64_t parse_byte_size(std::string_view text) {
  auto bad = [&]() -> Error {
    return Error("", "", "cannot read size '" + std::string(text) +
                             "' (expected a number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
  };
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number(text.substr(0, i));
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 || number == ".") throw bad();
  while (i < text.size() && text[i] == ' ') ++i;
  std::string unit;
  for (; i < text.size(); ++i) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else if (unit == "kib") scale = 1024.0;
  else if (unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw bad();
  const double v = std::stod(number) * scale;
  if (!(v >= 1.0) || !(v < 1.8e19)) throw bad();
  return static_cast<std::uint64_t>(std::floor(v));
}

}  // namespace ramq
