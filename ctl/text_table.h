// TextTable: rows of text printed as left-aligned columns, for the
// human-readable output of adamasync-ctl.
//
// Example:
//   TextTable t({"table", "elements"});
//   t.AddRow({"mlp/w", "200704"});
//   std::cout << t.Render("  ");
//
// Thread safety: none; one thread builds and renders a table.
#ifndef ADAMASYNC_CTL_TEXT_TABLE_H_
#define ADAMASYNC_CTL_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace adamasync::ctl {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}

  // A row may have fewer cells than the header (the rest are blank).
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }

  // The header and every row, each line starting with `indent`, columns
  // separated by two spaces, no trailing spaces; ends with a newline.
  std::string Render(const std::string& indent = "") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace adamasync::ctl

#endif  // ADAMASYNC_CTL_TEXT_TABLE_H_
