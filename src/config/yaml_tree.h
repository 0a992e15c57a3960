#pragma once

// The job file's YAML document as small trees.
//
// yaml-cpp's own tree (YAML::Load) costs about 4.7 KB per job, so a million jobs peaked at
// 4.8 GB before a single one was checked. The file is instead read as parser events
// (TreeBuilder) into these nodes, one top-level entry or one job at a time: each is checked
// as soon as it is complete and then freed.
//
// Internal to krond_config (job_file.cc); not part of its interface.

#include <sys/types.h>
#include <yaml-cpp/anchor.h>
#include <yaml-cpp/emitterstyle.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace krond::config::internal {

// A job file is usually a few kilobytes, but one scheduler is sized for a million jobs
// (docs/benchmarks.md, "One million schedules"), which is about 80 MB of YAML. The cap
// still bounds the parser's work on hostile input.
constexpr size_t kMaxFileBytes = 256 * 1024 * 1024;

// A YAML node with what the checks use: kind, position, scalar text, children.
// Owns its scalar text, not its children. Thread safety: none.
struct Node {
  enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };

  Kind kind = Kind::kNull;
  YAML::Mark mark;
  std::string scalar;
  // A sequence's items; a mapping's keys and values alternating, in file order, duplicate
  // keys kept. Not owned: an Arena owns every node. An alias is the anchored node itself,
  // as in yaml-cpp's tree, so a node may even contain itself.
  std::vector<const Node*> children;

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsSequence() const { return kind == Kind::kSequence; }
  bool IsMap() const { return kind == Kind::kMap; }
  const YAML::Mark& Mark() const { return mark; }
  const std::string& Scalar() const { return scalar; }
};

// "a list", "a mapping", "a scalar" or "nothing": what a node is, for messages.
std::string_view KindOf(const Node& node);

// Receives one YAML document from a TreeBuilder, piece by piece. The nodes passed in are
// owned by the TreeBuilder and valid only during the call. Thread safety: none.
class DocumentSink {
 public:
  virtual ~DocumentSink() = default;
  // A key of the top-level mapping, complete. Returning true asks for its value, if it is a
  // sequence without an anchor, to be delivered item by item to OnJob while it is parsed.
  virtual bool OnTopKey(const Node& key) = 0;
  // The value of the key just passed to OnTopKey. `streamed`: its items went to OnJob, and
  // `value` is an empty sequence standing for them.
  virtual void OnTopValue(const Node& key, const Node& value, bool streamed) = 0;
  virtual void OnJob(const Node& item) = 0;
  // The end of the top-level mapping (called only when it was streamed).
  virtual void OnTopEnd(const Node& root) = 0;
};

// Builds Nodes from yaml-cpp's parser events. When the document is a mapping without an
// anchor, its entries are handed to the sink one at a time instead of being attached to it,
// and likewise the items of a value the sink asks for (the jobs); each such piece is
// freed once handed over. Otherwise (a scalar, a list, an anchored mapping that an alias
// might repeat whole) the document is built whole, like yaml-cpp's own tree.
//
// Anchored nodes must outlive their piece, since an alias anywhere later refers to them:
// a piece holding one is kept until the builder is destroyed. Files rarely use anchors,
// and then for a few shared values.
//
// Owns every node it builds; does not own the sink, which must outlive it. One per
// document. Thread safety: none.
class TreeBuilder final : public YAML::EventHandler {
 public:
  explicit TreeBuilder(DocumentSink& sink) : sink_(sink) {}

  // The document's root once parsed; null if the stream had no document. When streamed()
  // it has no children: the sink has seen them.
  const Node* root() const { return root_; }
  bool streamed() const { return streamed_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override;
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override;
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override;
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override;
  void OnSequenceEnd() override;
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override;
  void OnMapEnd() override;

 private:
  // Owns the nodes of one piece. A deque never moves its elements, so nodes can point at
  // each other.
  struct Arena {
    std::deque<Node> nodes;
    bool anchored = false;
  };
  enum class Role : uint8_t { kPlain, kTopLevel, kStreamedItems };
  struct Frame {
    Node* node;
    Role role;
    // Where the node's children are allocated.
    Arena* arena;
  };

  Arena& CurrentArena() { return stack_.empty() ? document_ : *stack_.back().arena; }

  Node& New(Node::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor);
  void Open(Node::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor);
  void Close();
  // `node` is finished: attach it to its parent, or hand it to the sink.
  void Complete(const Node& node, bool streamed);
  // Frees a piece's nodes, unless an alias may still refer to them.
  void Release(Arena& arena);

  DocumentSink& sink_;
  Arena document_;  // the root, or the whole document when it is not streamed
  Arena entry_;     // the current entry of the top-level mapping
  Arena item_;      // the current item of a streamed value
  std::list<std::deque<Node>> retained_;
  std::vector<const Node*> anchors_;  // by anchor number
  std::vector<Frame> stack_;
  const Node* root_ = nullptr;
  bool streamed_ = false;
  // The top-level key whose value is being read, and what the sink said about it.
  const Node* key_ = nullptr;
  bool stream_value_ = false;
};

// Where the parser reads a job file from. yaml-cpp reads a std::istream; the file is read
// twice when `clusters` or `defaults` come after `jobs` (see Parser::Parse in job_file.cc).
// Thread safety: none.
class Source {
 public:
  virtual ~Source() = default;
  // The content from its first byte, again if called again. Valid until the next call.
  virtual std::streambuf& Rewind() = 0;
  // Whether the content at byte `pos` starts with `prefix`.
  virtual bool HasAt(size_t pos, std::string_view prefix) = 0;
};

// Text already in memory, read in place: a std::istringstream would copy it.
// Does not own the text, which must outlive it. Thread safety: none.
class TextSource final : public Source {
 public:
  explicit TextSource(std::string_view text) : text_(text) {}

  std::streambuf& Rewind() override;
  bool HasAt(size_t pos, std::string_view prefix) override;

 private:
  class Buffer : public std::streambuf {
   public:
    explicit Buffer(std::string_view text);
  };

  std::string_view text_;
  std::optional<Buffer> buffer_;
};

// A regular file, read through a small buffer rather than loaded whole: the text of a
// million jobs is 80 MB more at the peak of loading. Reads with pread, so a second reading
// starts over without seeking. A failed read, or a file that grows past kMaxFileBytes while
// it is read, ends the stream early; the caller checks error() and too_large() afterwards.
// Owns its buffer; does not own the descriptor, which must stay open while it is used.
// Thread safety: none.
class FileSource final : public Source, private std::streambuf {
 public:
  explicit FileSource(int fd) : fd_(fd), buffer_(new char[kBufferBytes]) {}

  std::streambuf& Rewind() override;
  bool HasAt(size_t pos, std::string_view prefix) override;

  // errno of the read that failed, or 0.
  int error() const { return error_; }
  bool too_large() const { return too_large_; }

 private:
  static constexpr size_t kBufferBytes = 64 * 1024;

  int_type underflow() override;

  int fd_;
  std::unique_ptr<char[]> buffer_;
  off_t offset_ = 0;
  int error_ = 0;
  bool too_large_ = false;
};

// Records where a document starts and whether it holds any node; used to look past the first
// document without building it. Owns nothing. Thread safety: none.
class DocumentProbe : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { has_nodes_ = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    has_nodes_ = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    has_nodes_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    has_nodes_ = true;
  }
  void OnMapEnd() override {}

  const YAML::Mark& start() const { return start_; }
  bool has_nodes() const { return has_nodes_; }

 private:
  YAML::Mark start_ = YAML::Mark::null_mark();
  bool has_nodes_ = false;
};

}  // namespace krond::config::internal
