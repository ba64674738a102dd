// A plain-text table for terminal reports: the first column left-aligned,
// the others right-aligned, widths fitted to the contents.
//
// Example:
//   TextTable t({"params", "GB/s"});
//   t.AddRow({"1M", "12.3"});
//   std::cout << t.Render();
#ifndef ADAMASYNC_BENCH_TEXT_TABLE_H_
#define ADAMASYNC_BENCH_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace adamasync {
namespace bench {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers);

  // A row with fewer cells than headers is padded with empty cells; extra
  // cells are dropped.
  void AddRow(std::vector<std::string> cells);

  // The header, a rule, and the rows; every line ends with '\n'.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace bench
}  // namespace adamasync

#endif  // ADAMASYNC_BENCH_TEXT_TABLE_H_
