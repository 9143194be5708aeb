// plan stage: the budget policy. Picks one encoding per tensor so that the sum of
// sensitivity-weighted relative errors is least and the plan's total bytes fit a budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ramq {

// ---- the optimisation problem (a multiple-choice knapsack), independent of models

struct BudgetOption {
  std::uint64_t bytes = 0;
  double cost = 0;  // weighted error
};

struct BudgetItem {
  std::vector<BudgetOption> options;  // at least one
};

struct BudgetSolution {
  std::vector<std::size_t> choice;  // option index per item
  std::uint64_t bytes = 0;
  double cost = 0;
  std::uint64_t min_bytes = 0;   // every item at its smallest option
  std::uint64_t max_bytes = 0;   // every item at its largest option
  std::uint64_t cell_bytes = 1;  // DP resolution (1 unit of the items' common divisor = exact)
  bool exact = true;             // the DP ran on exact byte counts: the optimum, not an approximation
};

// Minimises the total cost subject to total bytes <= budget (budget >= min_bytes; the caller
// checks). Options that another option of the item dominates (no more bytes and no more cost)
// are dropped; then a dynamic programme over the bytes above each item's smallest option, in
// cells of the greatest common divisor of those extra bytes, exact when the budget spans at most
// max_cells cells; otherwise costs are rounded up to cells of ceil(slack / max_cells) bytes (the
// result stays feasible) and a greedy fill then spends what the rounding left, one change at a
// time, largest cost reduction first. Deterministic: ties go to the lower option index.
BudgetSolution solve_budget(const std::vector<BudgetItem>& items, std::uint64_t budget,
                            std::size_t max_cells = std::size_t{1} << 16);

// ---- command-line sizes

// "4.2GB", "300 MB", "512KiB", "123456" (bytes): B, KB, MB, GB, TB (powers of 1000), KiB, MiB,
// GiB, TiB (powers of 1024), case-insensitive. Throws ramq::Error for anything else.
std::uint64_t parse_byte_size(std::string_view text);

}  // namespace ramq
