#include "config/yaml_tree.h"

#include <unistd.h>

#include <cerrno>

namespace krond::config::internal {

std::string_view KindOf(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kSequence:
      return "a list";
    case Node::Kind::kMap:
      return "a mapping";
    case Node::Kind::kScalar:
      return "a scalar";
    case Node::Kind::kNull:
      break;
  }
  return "nothing";
}

// ---- TreeBuilder ---------------------------------------------------------------------------

void TreeBuilder::OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) {
  Complete(New(Node::Kind::kNull, mark, anchor), false);
}

void TreeBuilder::OnAlias(const YAML::Mark&, YAML::anchor_t anchor) {
  // yaml-cpp's parser rejects an alias to an anchor it has not seen, so `at` never throws.
  Complete(*anchors_.at(anchor), false);
}

void TreeBuilder::OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                           const std::string& value) {
  Node& node = New(Node::Kind::kScalar, mark, anchor);
  node.scalar = value;
  Complete(node, false);
}

void TreeBuilder::OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                                  YAML::EmitterStyle::value) {
  Open(Node::Kind::kSequence, mark, anchor);
}

void TreeBuilder::OnSequenceEnd() { Close(); }

void TreeBuilder::OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                             YAML::EmitterStyle::value) {
  Open(Node::Kind::kMap, mark, anchor);
}

void TreeBuilder::OnMapEnd() { Close(); }

Node& TreeBuilder::New(Node::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
  Arena& arena = CurrentArena();
  Node& node = arena.nodes.emplace_back();
  node.kind = kind;
  node.mark = mark;
  if (anchor != YAML::NullAnchor) {
    // yaml-cpp numbers anchors 1, 2, ... in document order.
    if (anchors_.size() <= anchor) anchors_.resize(anchor + 1, nullptr);
    anchors_[anchor] = &node;
    arena.anchored = true;
  }
  return node;
}

void TreeBuilder::Open(Node::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
  Arena* children = &CurrentArena();
  Role role = Role::kPlain;
  if (stack_.empty()) {
    if (kind == Node::Kind::kMap && anchor == YAML::NullAnchor) {
      role = Role::kTopLevel;
      children = &entry_;
    }
  } else if (stack_.back().role == Role::kTopLevel && key_ != nullptr && stream_value_ &&
             kind == Node::Kind::kSequence && anchor == YAML::NullAnchor) {
    role = Role::kStreamedItems;
    children = &item_;
  }
  Node& node = New(kind, mark, anchor);
  stack_.push_back(Frame{&node, role, children});
}

void TreeBuilder::Close() {
  const Frame frame = stack_.back();
  stack_.pop_back();
  if (frame.role == Role::kTopLevel) {
    root_ = frame.node;
    streamed_ = true;
    sink_.OnTopEnd(*frame.node);
    return;
  }
  Complete(*frame.node, frame.role == Role::kStreamedItems);
}

void TreeBuilder::Complete(const Node& node, bool streamed) {
  if (stack_.empty()) {
    root_ = &node;
    return;
  }
  Frame& parent = stack_.back();
  switch (parent.role) {
    case Role::kPlain:
      parent.node->children.push_back(&node);
      return;
    case Role::kStreamedItems:
      sink_.OnJob(node);
      Release(item_);
      return;
    case Role::kTopLevel:
      if (key_ == nullptr) {
        key_ = &node;
        stream_value_ = sink_.OnTopKey(node);
      } else {
        sink_.OnTopValue(*key_, node, streamed);
        key_ = nullptr;
        stream_value_ = false;
        Release(entry_);
      }
      return;
  }
}

void TreeBuilder::Release(Arena& arena) {
  if (arena.anchored) {
    // swap, not move: the nodes must stay where they are.
    retained_.emplace_back().swap(arena.nodes);
    arena.anchored = false;
  } else {
    arena.nodes.clear();
  }
}

// ---- TextSource ----------------------------------------------------------------------------

std::streambuf& TextSource::Rewind() {
  buffer_.emplace(text_);
  return *buffer_;
}

bool TextSource::HasAt(size_t pos, std::string_view prefix) {
  return pos < text_.size() && text_.substr(pos).starts_with(prefix);
}

TextSource::Buffer::Buffer(std::string_view text) {
  // The get area is only read (yaml-cpp puts back only what it just read, which moves
  // the pointer without writing); streambuf just has no const interface.
  char* begin = const_cast<char*>(text.data());
  setg(begin, begin, begin + text.size());
}

// ---- FileSource ----------------------------------------------------------------------------

std::streambuf& FileSource::Rewind() {
  offset_ = 0;
  setg(nullptr, nullptr, nullptr);
  return *this;
}

bool FileSource::HasAt(size_t pos, std::string_view prefix) {
  std::string bytes(prefix.size(), '\0');
  ssize_t n;
  do {
    n = pread(fd_, bytes.data(), bytes.size(), static_cast<off_t>(pos));
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(prefix.size()) && bytes == prefix;
}

FileSource::int_type FileSource::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  if (error_ != 0 || too_large_) return traits_type::eof();
  ssize_t n;
  do {
    n = pread(fd_, buffer_.get(), kBufferBytes, offset_);
  } while (n < 0 && errno == EINTR);
  if (n < 0) error_ = errno;
  if (n <= 0) return traits_type::eof();
  offset_ += n;
  if (static_cast<uint64_t>(offset_) > kMaxFileBytes) {
    too_large_ = true;
    return traits_type::eof();
  }
  setg(buffer_.get(), buffer_.get(), buffer_.get() + n);
  return traits_type::to_int_type(*gptr());
}

}  // namespace krond::config::internal
