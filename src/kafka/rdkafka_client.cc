#include "kafka/rdkafka_client.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <thread>

namespace krond::kafka {
namespace {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// How long Consumer::Close waits to leave the group.
constexpr std::chrono::milliseconds kCloseTimeout{3000};

// What librdkafka's callbacks need; lives as long as the handle (the conf's opaque).
struct ClientContext {
  std::string name;
  ErrorHook on_error;
  RefusalHook on_refused;
  RebalanceListener* listener = nullptr;
  // Level of the assigned/revoked lines (ConsumerOptions::quiet_rebalances).
  spdlog::level::level_enum rebalance_level = spdlog::level::info;
  std::atomic<int> in_flight{0};
  // Set while a producer is destroyed: its owners may be gone, so callbacks are dropped.
  std::atomic<bool> discarding{false};
  // A reader's group is never joined or committed, yet librdkafka still looks up its
  // coordinator: a principal with no ACL on it (least privilege) is refused that lookup,
  // which refuses nothing the reader does, so it is neither logged as one nor counted.
  bool group_unused = false;
  // A group consumer's assignment, as the rebalances told it, and (with report_ends) the
  // partitions whose end it reached since they were assigned: Consumer::AtEnd, called on
  // every poll until it holds, without asking librdkafka's main thread for the assignment.
  // Only the polling thread (Poll, rebalances) touches them.
  std::set<std::pair<std::string, int32_t>> assigned;
  std::set<std::pair<std::string, int32_t>> ends_reached;
};

bool UnusedGroupRefusal(const ClientContext* ctx, rd_kafka_resp_err_t err) {
  return ctx != nullptr && ctx->group_unused && err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
}

Status Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return MakeError("kafka setting " + key + "=" + value + ": " + err);
  }
  return {};
}

// A user's property: the message names where it came from and never shows the value, which
// may be a password (librdkafka's own message quotes an invalid value, so it is cut out).
Status SetUserProperty(rd_kafka_conf_t* conf, const ClientConfig& config, const std::string& key,
                       const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) {
    return {};
  }
  std::string reason = err;
  if (!value.empty()) {
    for (size_t at = reason.find(value); at != std::string::npos; at = reason.find(value, at)) {
      reason.replace(at, value.size(), "...");
      at += 3;
    }
  }
  auto origin = config.origins.find(key);
  const std::string where = origin != config.origins.end() ? origin->second + ": " : "";
  return MakeError(where + "kafka property " + key + ": " + reason);
}

// Whether `err` means Kafka refused the client, and how.
std::optional<Refusal> RefusalOf(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR__SSL:
      return Refusal::kAuthentication;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
      return Refusal::kAuthorization;
    default:
      return std::nullopt;
  }
}

// A client that does not authenticate at all (no SASL against a SASL listener, no TLS
// against a TLS one) is not told why: the broker closes the connection, and librdkafka
// reports a transport error with one of these diagnoses when that happens right after
// connecting.
std::optional<Refusal> RefusalOf(rd_kafka_resp_err_t err, std::string_view reason) {
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT &&
      (reason.find("broker might require SASL authentication") != std::string_view::npos ||
       reason.find("connecting to a SSL listener?") != std::string_view::npos)) {
    return Refusal::kAuthentication;
  }
  return RefusalOf(err);
}

// Reports a refusal to the config's hook; returns whether `err` was one.
bool NoteRefusal(const ClientContext* ctx, std::optional<Refusal> refusal) {
  if (refusal && ctx != nullptr && ctx->on_refused) ctx->on_refused(*refusal);
  return refusal.has_value();
}
bool NoteRefusal(const ClientContext* ctx, rd_kafka_resp_err_t err) {
  return NoteRefusal(ctx, RefusalOf(err));
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rd_kafka_name(rk);
  // syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug.
  auto lvl = level <= 3   ? spdlog::level::err
             : level == 4 ? spdlog::level::warn
             : level <= 6 ? spdlog::level::info
                          : spdlog::level::debug;
  spdlog::log(lvl, "kafka {} {}: {}", name, fac, buf);
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* ctx = static_cast<ClientContext*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (UnusedGroupRefusal(ctx, code)) {
    spdlog::debug("kafka {}: {} (the reader's group is unused)", rd_kafka_name(rk), reason);
    return;
  }
  const std::optional<Refusal> refusal = RefusalOf(code, reason);
  if (NoteRefusal(ctx, refusal)) {
    // librdkafka tries again after its reconnect backoff (at most 1 s), so a client with
    // wrong credentials logs this about once a second until it is fixed.
    spdlog::error(
        "kafka {}: refused by Kafka ({}): {}; check this client's credentials, CA and ACLs "
        "(docs/security.md)",
        rd_kafka_name(rk), RefusalName(*refusal), reason);
  } else {
    // "All brokers down" and transport errors are expected while a broker restarts:
    // librdkafka reconnects by itself, so these are warnings, counted by the hook.
    spdlog::warn("kafka {}: {} ({})", rd_kafka_name(rk), reason, rd_kafka_err2name(code));
  }
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    spdlog::error("kafka {}: fatal error: {}", rd_kafka_name(rk), fatal);
  }
  if (ctx != nullptr && ctx->on_error) ctx->on_error(reason);
}

using Settings = std::vector<std::pair<std::string, std::string>>;

// The one place a librdkafka configuration is made, for every kind of client: krond's base
// settings, then the client's own (`role`), then the user's properties (which Validate has
// checked not to weaken a guarantee), then the callbacks. `ctx` may be null (no callback
// needs one); else it must outlive the handle.
Result<ConfPtr> NewConf(const ClientConfig& config, ClientContext* ctx, const Settings& role) {
  if (auto ok = config.Validate(); !ok) return tl::unexpected(ok.error());
  ConfPtr conf(rd_kafka_conf_new());
  const std::pair<const char*, std::string> base[] = {
      {"bootstrap.servers", config.brokers},
      {"client.id", config.client_id},
      // Pick up topics created after start within seconds, not the 5-minute default.
      {"topic.metadata.refresh.interval.ms", "2000"},
      {"reconnect.backoff.ms", "50"},
      {"reconnect.backoff.max.ms", "1000"},
      {"socket.keepalive.enable", "true"},
  };
  for (const auto& [k, v] : base) {
    if (auto ok = Set(conf.get(), k, v); !ok) return tl::unexpected(ok.error());
  }
  for (const auto& [k, v] : role) {
    if (auto ok = Set(conf.get(), k, v); !ok) return tl::unexpected(ok.error());
  }
  for (const auto& [k, v] : config.overrides) {
    if (auto ok = SetUserProperty(conf.get(), config, k, v); !ok) return tl::unexpected(ok.error());
  }
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  if (ctx != nullptr) {
    ctx->name = config.client_id;
    ctx->on_refused = config.on_refused;
  }
  rd_kafka_conf_set_opaque(conf.get(), ctx);
  return conf;
}

Result<HandlePtr> NewHandle(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) return MakeError(std::string("cannot create kafka client: ") + err);
  conf.release();  // rd_kafka_new took ownership
  return HandlePtr(rk);
}

Status ErrorStatus(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return MakeError(what + ": " + rd_kafka_err2str(err));
}

tl::unexpected<ProduceError> ProduceFailure(rd_kafka_resp_err_t err, const std::string& what) {
  return tl::unexpected(ProduceError{ClassifyProduceError(static_cast<int>(err)),
                                     what + ": " + rd_kafka_err2str(err)});
}

TopicErrorKind ClassifyTopicError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return TopicErrorKind::kRejected;
    default:
      // Timeouts, transport errors, no controller, and INVALID_REPLICATION_FACTOR: a 3-node
      // cluster with a node restarting has fewer live brokers than the replication factor
      // for a moment.
      return TopicErrorKind::kUnreachable;
  }
}

tl::unexpected<TopicError> TopicFailure(TopicErrorKind kind, std::string message) {
  return tl::unexpected(TopicError{kind, std::move(message)});
}

PartitionListPtr ToList(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& tp : partitions) {
    rd_kafka_topic_partition_t* elem =
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    elem->offset = tp.offset;
    if (!tp.metadata.empty()) {
      // Freed by the list with free(): allocated with malloc.
      elem->metadata = malloc(tp.metadata.size());
      memcpy(elem->metadata, tp.metadata.data(), tp.metadata.size());
      elem->metadata_size = tp.metadata.size();
    }
  }
  return list;
}

std::vector<TopicPartition> FromList(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    TopicPartition tp{e.topic, e.partition, e.offset, {}};
    if (e.metadata != nullptr && e.metadata_size > 0) {
      tp.metadata.assign(static_cast<const char*>(e.metadata), e.metadata_size);
    }
    out.push_back(std::move(tp));
  }
  return out;
}

// A consumed message's copy; `m` must be a message, not an error event.
ConsumedMessage ToConsumed(const rd_kafka_message_t* m) {
  ConsumedMessage out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  out.timestamp_ms = rd_kafka_message_timestamp(m, &type);
  out.log_append_time = type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME;
  if (m->key != nullptr) out.key.assign(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) out.value.assign(static_cast<const char*>(m->payload), m->len);
  return out;
}

// The partition count of `topic`, or an error if it does not exist.
// `err`, when given, is set to what the metadata request answered.
Result<int> CountPartitions(rd_kafka_t* h, const std::string& topic, int timeout_ms,
                            rd_kafka_resp_err_t* err = nullptr) {
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> rkt(
      rd_kafka_topic_new(h, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t e = rd_kafka_metadata(h, 0, rkt.get(), &raw, timeout_ms);
  if (err != nullptr) *err = e;
  if (e) {
    return MakeError("metadata for " + topic + ": " + rd_kafka_err2str(e));
  }
  MetadataPtr md(raw);
  if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return MakeError("topic " + topic + " does not exist");
  }
  return md->topics[0].partition_cnt;
}

// ": t[0], t[1]" for a rebalance log line (empty for no partitions).
std::string Describe(const std::vector<TopicPartition>& partitions) {
  std::string out;
  for (const auto& tp : partitions) {
    out += (out.empty() ? ": " : ", ") + tp.topic + "[" + std::to_string(tp.partition) + "]";
  }
  return out;
}

// What a produced message carries through librdkafka (its opaque) until its delivery report:
// the caller's callback, and the partition key the partitioner hashes.
struct MessageContext {
  DeliveryCallback on_delivery;
  std::string partition_key;
};

// The partitioner of every krond producer: a message with a partition key goes to
// PartitionForKey (all runs of a job on one partition); others keep librdkafka's default.
int32_t Partition(const rd_kafka_topic_t* rkt, const void* key, size_t keylen,
                  int32_t partition_cnt, void* rkt_opaque, void* msg_opaque) {
  const auto* ctx = static_cast<const MessageContext*>(msg_opaque);
  if (ctx != nullptr && !ctx->partition_key.empty()) {
    return PartitionForKey(ctx->partition_key, partition_cnt);
  }
  return rd_kafka_msg_partitioner_consistent_random(rkt, key, keylen, partition_cnt, rkt_opaque,
                                                    msg_opaque);
}

// ---------------------------------------------------------------------------------------
class RdKafkaProducer final : public Producer {
 public:
  RdKafkaProducer(std::unique_ptr<ClientContext> ctx, HandlePtr rk)
      : ctx_(std::move(ctx)), rk_(std::move(rk)) {}
  // Owners call Flush first; whatever is still queued here is purged without calling its
  // callback, because the objects those callbacks use may already be destroyed.
  ~RdKafkaProducer() override {
    ctx_->discarding = true;
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk_.get(), 1000);
  }

  ProduceStatus ProduceRouted(std::string_view topic, std::string_view partition_key,
                              std::string_view key, std::string_view value,
                              DeliveryCallback on_delivery) override {
    auto* cb = new MessageContext{std::move(on_delivery), std::string(partition_key)};
    const std::string topic_name(topic);
    rd_kafka_vu_t vus[5];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic_name.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem = {const_cast<char*>(key.data()), key.size()};
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem = {const_cast<char*>(value.data()), value.size()};
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[4].u.ptr = cb;
    rd_kafka_error_t* error = rd_kafka_produceva(rk_.get(), vus, 5);
    const rd_kafka_resp_err_t err =
        error != nullptr ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (error != nullptr) rd_kafka_error_destroy(error);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      delete cb;
      return ProduceFailure(err, "produce to " + topic_name);
    }
    ctx_->in_flight.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  void Poll(std::chrono::milliseconds timeout) override {
    rd_kafka_poll(rk_.get(), static_cast<int>(timeout.count()));
  }

  Status Flush(std::chrono::milliseconds timeout) override {
    return ErrorStatus(rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count())),
                       "flush: " + std::to_string(InFlight()) + " message(s) not delivered");
  }

  int InFlight() const override { return ctx_->in_flight.load(std::memory_order_relaxed); }

  rd_kafka_t* handle() const { return rk_.get(); }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* ctx = static_cast<ClientContext*>(opaque);
    std::unique_ptr<MessageContext> cb(static_cast<MessageContext*>(m->_private));
    ctx->in_flight.fetch_sub(1, std::memory_order_relaxed);
    DeliveryReport report;
    report.topic = rd_kafka_topic_name(m->rkt);
    report.partition = m->partition;
    report.offset = m->offset;
    // Only a failure builds a message: this runs once per message, e.g. per scheduler fire.
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      NoteRefusal(ctx, m->err);
      report.status = ProduceFailure(m->err, "deliver to " + report.topic);
    }
    if (cb && cb->on_delivery && !ctx->discarding) cb->on_delivery(report);
  }

 private:
  std::unique_ptr<ClientContext> ctx_;
  HandlePtr rk_;
};

// ---------------------------------------------------------------------------------------
TxnStatus TxnResult(rd_kafka_error_t* error, const char* what) {
  if (error == nullptr) return {};
  TxnError out;
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  out.message = std::string(what) + ": " + rd_kafka_error_string(error);
  if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
      code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
    out.kind = TxnErrorKind::kFenced;
  } else if (rd_kafka_error_is_fatal(error)) {
    out.kind = TxnErrorKind::kFatal;
  } else if (rd_kafka_error_txn_requires_abort(error)) {
    out.kind = TxnErrorKind::kAbortable;
  } else if (rd_kafka_error_is_retriable(error) || code == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    out.kind = TxnErrorKind::kRetriable;
  } else {
    out.kind = TxnErrorKind::kFatal;
  }
  rd_kafka_error_destroy(error);
  return tl::unexpected(std::move(out));
}

// The transactional calls of librdkafka on top of RdKafkaProducer.
class RdKafkaTransactionalProducer final : public TransactionalProducer {
 public:
  explicit RdKafkaTransactionalProducer(std::unique_ptr<RdKafkaProducer> inner)
      : inner_(std::move(inner)) {}

  ProduceStatus ProduceRouted(std::string_view topic, std::string_view partition_key,
                              std::string_view key, std::string_view value,
                              DeliveryCallback on_delivery) override {
    return inner_->ProduceRouted(topic, partition_key, key, value, std::move(on_delivery));
  }
  void Poll(std::chrono::milliseconds timeout) override { inner_->Poll(timeout); }
  Status Flush(std::chrono::milliseconds timeout) override { return inner_->Flush(timeout); }
  int InFlight() const override { return inner_->InFlight(); }

  Status WarmUp(const std::vector<std::string>& topics,
                std::chrono::milliseconds timeout) override {
    for (const std::string& topic : topics) {
      // Kept for the producer's life, so librdkafka keeps the topic's metadata current.
      warm_.emplace_back(rd_kafka_topic_new(inner_->handle(), topic.c_str(), nullptr));
      const rd_kafka_metadata_t* raw = nullptr;
      if (auto e = rd_kafka_metadata(inner_->handle(), 0, warm_.back().get(), &raw, Ms(timeout))) {
        return MakeError("metadata for " + topic + ": " + rd_kafka_err2str(e));
      }
      MetadataPtr md(raw);
    }
    return {};
  }

  TxnStatus InitTransactions(std::chrono::milliseconds timeout) override {
    return TxnResult(rd_kafka_init_transactions(inner_->handle(), Ms(timeout)),
                     "init transactions");
  }
  TxnStatus BeginTransaction() override {
    return TxnResult(rd_kafka_begin_transaction(inner_->handle()), "begin transaction");
  }
  TxnStatus CommitTransaction(std::chrono::milliseconds timeout) override {
    return TxnResult(rd_kafka_commit_transaction(inner_->handle(), Ms(timeout)),
                     "commit transaction");
  }
  TxnStatus AbortTransaction(std::chrono::milliseconds timeout) override {
    return TxnResult(rd_kafka_abort_transaction(inner_->handle(), Ms(timeout)),
                     "abort transaction");
  }

 private:
  static int Ms(std::chrono::milliseconds t) { return static_cast<int>(t.count()); }
  // Declared first: topic handles go before the client they belong to.
  std::unique_ptr<RdKafkaProducer> inner_;
  std::vector<TopicPtr> warm_;
};

// ---------------------------------------------------------------------------------------
class RdKafkaConsumer final : public Consumer {
 public:
  RdKafkaConsumer(std::unique_ptr<ClientContext> ctx, HandlePtr rk)
      : ctx_(std::move(ctx)), rk_(std::move(rk)) {
    rd_kafka_poll_set_consumer(rk_.get());
  }
  ~RdKafkaConsumer() override {
    Close();
    // rd_kafka_destroy would close the consumer again, without a bound.
    rd_kafka_destroy_flags(rk_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  Status Subscribe(const std::vector<std::string>& topics) override {
    PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const auto& t : topics) {
      rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    return ErrorStatus(rd_kafka_subscribe(rk_.get(), list.get()), "subscribe");
  }

  Result<std::optional<ConsumedMessage>> Poll(std::chrono::milliseconds timeout) override {
    MessagePtr m(rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count())));
    if (!m) return std::optional<ConsumedMessage>();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (m->rkt != nullptr) ctx_->ends_reached.emplace(rd_kafka_topic_name(m->rkt), m->partition);
      return std::optional<ConsumedMessage>();
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string where =
          m->rkt != nullptr ? std::string(" (") + rd_kafka_topic_name(m->rkt) + ")" : std::string();
      if (NoteRefusal(ctx_.get(), m->err)) where += "; refused by Kafka (docs/security.md)";
      return MakeError(std::string(rd_kafka_message_errstr(m.get())) + where);
    }
    return std::optional<ConsumedMessage>(ToConsumed(m.get()));
  }

  // Asynchronous. A synchronous commit is a broker round trip, and the worker commits once
  // per Step (one message per Step), so it capped a worker at a few hundred runs/s on a
  // loaded host (docs/benchmarks.md, "Pipeline lateness"). A commit that fails later is
  // logged by OnCommitted and counted through on_error; its runs may then be delivered
  // again, which at-least-once delivery allows. Close() commits the latest offsets of the
  // partitions still assigned synchronously, so a clean stop loses no commit.
  Status Commit(const std::vector<TopicPartition>& offsets) override {
    if (offsets.empty()) return {};
    for (const auto& tp : offsets) last_commit_[{tp.topic, tp.partition}] = tp;
    auto list = ToList(offsets);
    return ErrorStatus(rd_kafka_commit(rk_.get(), list.get(), /*async=*/1), "commit");
  }

  Result<std::vector<TopicPartition>> Committed(const std::vector<TopicPartition>& partitions,
                                                std::chrono::milliseconds timeout) override {
    if (partitions.empty()) return std::vector<TopicPartition>();
    auto list = ToList(partitions);
    if (auto err = rd_kafka_committed(rk_.get(), list.get(), static_cast<int>(timeout.count()))) {
      return MakeError(std::string("committed offsets: ") + rd_kafka_err2str(err));
    }
    std::vector<TopicPartition> out = FromList(list.get());
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& e = list->elems[i];
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return MakeError("committed offset of " + std::string(e.topic) + "[" +
                         std::to_string(e.partition) + "]: " + rd_kafka_err2str(e.err));
      }
      // RD_KAFKA_OFFSET_INVALID (-1001): nothing committed yet.
      if (out[static_cast<size_t>(i)].offset < 0) out[static_cast<size_t>(i)].offset = -1;
    }
    return out;
  }

  Status Pause(const std::vector<TopicPartition>& partitions) override {
    auto list = ToList(partitions);
    return ErrorStatus(rd_kafka_pause_partitions(rk_.get(), list.get()), "pause");
  }

  Status Resume(const std::vector<TopicPartition>& partitions) override {
    auto list = ToList(partitions);
    return ErrorStatus(rd_kafka_resume_partitions(rk_.get(), list.get()), "resume");
  }

  Status Seek(const TopicPartition& position) override {
    auto list = ToList({position});
    rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_.get(), list.get(), 5000);
    if (error != nullptr) {
      std::string text = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      return MakeError("seek: " + text);
    }
    return ErrorStatus(list->elems[0].err, "seek " + position.topic);
  }

  std::vector<TopicPartition> Assignment() override {
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
    PartitionListPtr list(raw);
    return FromList(list.get());
  }

  bool AtEnd() override {
    const auto& assigned = ctx_->assigned;
    return !assigned.empty() && std::all_of(assigned.begin(), assigned.end(), [&](const auto& tp) {
      return ctx_->ends_reached.count(tp) != 0;
    });
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    std::vector<TopicPartition> final_offsets;
    for (const auto& tp : Assignment()) {
      auto it = last_commit_.find({tp.topic, tp.partition});
      if (it != last_commit_.end()) final_offsets.push_back(it->second);
    }
    // Asynchronous, like every commit: the close below waits for it while the broker
    // answers, and a synchronous one would wait forever for a broker that never does.
    if (!final_offsets.empty()) {
      auto list = ToList(final_offsets);
      if (auto err = rd_kafka_commit(rk_.get(), list.get(), /*async=*/1)) {
        spdlog::warn("kafka {}: final commit: {} (those runs may run again)", ctx_->name,
                     rd_kafka_err2str(err));
      }
    }
    // Leaving the group needs the coordinator: wait for it at most kCloseTimeout, serving
    // the revoke on this thread. Without Kafka the group expires the member after its
    // session timeout instead, and its partitions move then.
    QueuePtr queue(rd_kafka_queue_new(rk_.get()));
    if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(rk_.get(), queue.get())) {
      spdlog::warn("kafka {}: close: {}", ctx_->name, rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + kCloseTimeout;
    while (!rd_kafka_consumer_closed(rk_.get())) {
      if (std::chrono::steady_clock::now() >= deadline) {
        spdlog::warn(
            "kafka {}: did not leave the group within {} ms (Kafka unreachable?); it "
            "expires this member after the session timeout",
            ctx_->name, kCloseTimeout.count());
        return;
      }
      EventPtr event(rd_kafka_queue_poll(queue.get(), 100));
      if (event && rd_kafka_event_type(event.get()) == RD_KAFKA_EVENT_REBALANCE) {
        // With a close queue, rebalances arrive as events: serve them as the callback would.
        OnRebalance(rk_.get(), rd_kafka_event_error(event.get()),
                    rd_kafka_event_topic_partition_list(event.get()), ctx_.get());
      }
    }
  }

  static void OnCommitted(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                          void* opaque) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    auto* ctx = static_cast<ClientContext*>(opaque);
    NoteRefusal(ctx, err);
    spdlog::warn("kafka {}: commit failed: {} (those runs may run again)", ctx->name,
                 rd_kafka_err2str(err));
    if (ctx->on_error) ctx->on_error(rd_kafka_err2str(err));
  }

  // Takes an assignment the group gave; what librdkafka said if it refused, else empty.
  static std::string Assign(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions,
                            bool cooperative) {
    if (!cooperative) {
      const rd_kafka_resp_err_t err = rd_kafka_assign(rk, partitions);
      return err == RD_KAFKA_RESP_ERR_NO_ERROR ? std::string() : rd_kafka_err2str(err);
    }
    rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions);
    if (e == nullptr) return {};
    std::string what = rd_kafka_error_string(e);
    rd_kafka_error_destroy(e);
    return what;
  }

  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* ctx = static_cast<ClientContext*>(opaque);
    const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    auto list = FromList(partitions);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      if (const std::string refused = Assign(rk, partitions, cooperative); !refused.empty()) {
        // Not recorded: AtEnd must not wait for the end of a partition it does not read. The
        // group assigns it again at the next rebalance.
        spdlog::warn("kafka {}: could not take {} assigned partition(s){}: {}", ctx->name,
                     list.size(), Describe(list), refused);
        if (ctx->on_error) ctx->on_error(refused);
        return;
      }
      spdlog::log(ctx->rebalance_level, "kafka {}: assigned {} partition(s){}", ctx->name,
                  list.size(), Describe(list));
      // Read again from their committed offset: their end is still to be reached.
      for (const auto& tp : list) {
        ctx->assigned.emplace(tp.topic, tp.partition);
        ctx->ends_reached.erase({tp.topic, tp.partition});
      }
      if (ctx->listener != nullptr) ctx->listener->OnAssigned(list);
      return;
    }
    for (const auto& tp : list) ctx->assigned.erase({tp.topic, tp.partition});
    // Read before unassigning, which resets it.
    const bool lost = rd_kafka_assignment_lost(rk) != 0;
    if (lost) {
      spdlog::warn("kafka {}: lost {} partition(s) (session expired){}", ctx->name, list.size(),
                   Describe(list));
      if (ctx->listener != nullptr) ctx->listener->OnLost(list);
    } else {
      spdlog::log(ctx->rebalance_level, "kafka {}: revoked {} partition(s){}", ctx->name,
                  list.size(), Describe(list));
      if (ctx->listener != nullptr) ctx->listener->OnRevoked(list);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions)) {
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }

 private:
  std::unique_ptr<ClientContext> ctx_;
  HandlePtr rk_;
  bool closed_ = false;
  // The offset (and metadata) last committed per partition, for the synchronous commit in
  // Close().
  std::map<std::pair<std::string, int32_t>, TopicPartition> last_commit_;
};

// ---------------------------------------------------------------------------------------
class RdKafkaAdmin final : public Admin {
 public:
  RdKafkaAdmin(std::unique_ptr<ClientContext> ctx, HandlePtr rk)
      : ctx_(std::move(ctx)), rk_(std::move(rk)) {}

  EnsureResult EnsureTopics(const std::vector<TopicSpec>& specs,
                            std::chrono::milliseconds timeout) override {
    std::vector<rd_kafka_NewTopic_t*> topics;
    char err[512];
    for (const auto& spec : specs) {
      rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                     spec.replication_factor, err, sizeof err);
      if (t == nullptr) {
        for (auto* done : topics) rd_kafka_NewTopic_destroy(done);
        return TopicFailure(TopicErrorKind::kRejected, "topic " + spec.name + ": " + err);
      }
      for (const auto& [k, v] : spec.configs) rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str());
      topics.push_back(t);
    }
    QueuePtr queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_AdminOptions_t* options =
        rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(options, static_cast<int>(timeout.count()), err,
                                                sizeof err);
    rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), err,
                                              sizeof err);
    rd_kafka_CreateTopics(rk_.get(), topics.data(), topics.size(), options, queue.get());
    rd_kafka_AdminOptions_destroy(options);
    for (auto* t : topics) rd_kafka_NewTopic_destroy(t);

    EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 2000));
    if (!event) {
      return TopicFailure(TopicErrorKind::kUnreachable,
                          "create topics: no answer from the brokers (is Kafka up?)");
    }
    if (const rd_kafka_resp_err_t e = rd_kafka_event_error(event.get())) {
      return TopicFailure(ClassifyTopicError(e), std::string("create topics: ") +
                                                     rd_kafka_event_error_string(event.get()));
    }
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
    size_t count = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
    std::vector<EnsureReport> reports;
    for (size_t i = 0; i < count; ++i) {
      const std::string name = rd_kafka_topic_result_name(results[i]);
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      const TopicSpec* spec = nullptr;
      for (const auto& s : specs) {
        if (s.name == name) spec = &s;
      }
      EnsureReport report{name, EnsureOutcome::kCreated, spec != nullptr ? spec->partitions : 0};
      // Least privilege: on a shared cluster an admin creates the topics and krond's
      // principals may not; a topic that exists as configured is all they need.
      const bool unauthorized = e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                                e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED;
      if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS || unauthorized) {
        auto partitions = PartitionCount(name, timeout);
        if (!partitions && unauthorized) {
          NoteRefusal(ctx_.get(), e);
          return TopicFailure(TopicErrorKind::kRejected,
                              "not authorized to create topic " + name +
                                  ", and cannot see it (it does not exist, or this principal "
                                  "may not Describe it): create the topics as an admin with "
                                  "`krond topics ensure`, and check the principal's ACLs with "
                                  "`krond acls` (docs/security.md)");
        }
        if (!partitions)
          return TopicFailure(TopicErrorKind::kUnreachable, partitions.error().message);
        report.outcome = EnsureOutcome::kExisted;
        report.partitions = *partitions;
        if (spec != nullptr && *partitions != spec->partitions) {
          return TopicFailure(TopicErrorKind::kPartitionMismatch,
                              "topic " + name + " exists with " + std::to_string(*partitions) +
                                  " partition(s) but " + std::to_string(spec->partitions) +
                                  " are configured: change --partitions, or migrate the topic "
                                  "(docs/operations.md)");
        }
      } else if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        NoteRefusal(ctx_.get(), e);
        const char* msg = rd_kafka_topic_result_error_string(results[i]);
        return TopicFailure(
            ClassifyTopicError(e),
            "create topic " + name + ": " + (msg != nullptr ? msg : rd_kafka_err2str(e)));
      }
      reports.push_back(report);
    }
    return reports;
  }

  Result<int> PartitionCount(const std::string& topic, std::chrono::milliseconds timeout) override {
    return CountPartitions(rk_.get(), topic, static_cast<int>(timeout.count()));
  }

  Result<std::vector<AclBinding>> CreateAcls(const std::vector<AclBinding>& all,
                                             std::chrono::milliseconds timeout) override {
    std::vector<AclBinding> bindings, unsent;
    for (const auto& b : all) {
      (b.resource == AclBinding::Resource::kTransactionalId ? unsent : bindings).push_back(b);
    }
    if (bindings.empty()) return unsent;
    std::vector<rd_kafka_AclBinding_t*> acls;
    auto destroy = [&] {
      for (auto* a : acls) rd_kafka_AclBinding_destroy(a);
    };
    char err[512];
    for (const auto& b : bindings) {
      rd_kafka_AclBinding_t* acl = rd_kafka_AclBinding_new(
          ToRdKafka(b.resource), b.name.c_str(),
          b.prefixed ? RD_KAFKA_RESOURCE_PATTERN_PREFIXED : RD_KAFKA_RESOURCE_PATTERN_LITERAL,
          b.principal.c_str(), "*", ToRdKafka(b.operation), RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, err,
          sizeof err);
      if (acl == nullptr) {
        destroy();
        return MakeError("ACL for " + b.principal + " on " + b.name + ": " + err);
      }
      acls.push_back(acl);
    }
    QueuePtr queue(rd_kafka_queue_new(rk_.get()));
    rd_kafka_AdminOptions_t* options =
        rd_kafka_AdminOptions_new(rk_.get(), RD_KAFKA_ADMIN_OP_CREATEACLS);
    rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), err,
                                              sizeof err);
    rd_kafka_CreateAcls(rk_.get(), acls.data(), acls.size(), options, queue.get());
    rd_kafka_AdminOptions_destroy(options);
    destroy();

    EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 2000));
    if (!event) return MakeError("create ACLs: no answer from " + brokers_hint());
    if (auto e = rd_kafka_event_error(event.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      NoteRefusal(ctx_.get(), e);
      return MakeError(std::string("create ACLs: ") + rd_kafka_event_error_string(event.get()));
    }
    size_t count = 0;
    const rd_kafka_acl_result_t** results =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(event.get()), &count);
    // Named by binding and error code; the broker's own text (long, and the same for every
    // binding when the client lacks ALTER) only once.
    std::string failures, first_message;
    for (size_t i = 0; i < count && i < bindings.size(); ++i) {
      const rd_kafka_error_t* e = rd_kafka_acl_result_error(results[i]);
      if (e == nullptr) continue;
      NoteRefusal(ctx_.get(), rd_kafka_error_code(e));
      const AclBinding& b = bindings[i];
      failures += std::string(failures.empty() ? "" : ", ") + b.principal + " " +
                  std::string(OperationName(b.operation)) + " " +
                  std::string(ResourceName(b.resource)) + ":" + b.name + " (" +
                  rd_kafka_error_name(e) + ")";
      if (first_message.empty()) first_message = rd_kafka_error_string(e);
    }
    if (!failures.empty()) {
      return MakeError("create ACLs: refused " + failures + "; the broker said: " + first_message);
    }
    return unsent;
  }

 private:
  static rd_kafka_ResourceType_t ToRdKafka(AclBinding::Resource r) {
    switch (r) {
      case AclBinding::Resource::kTopic:
        return RD_KAFKA_RESOURCE_TOPIC;
      case AclBinding::Resource::kGroup:
        return RD_KAFKA_RESOURCE_GROUP;
      case AclBinding::Resource::kTransactionalId:
        break;  // not sent (see CreateAcls)
    }
    return RD_KAFKA_RESOURCE_UNKNOWN;
  }
  static rd_kafka_AclOperation_t ToRdKafka(AclBinding::Operation o) {
    switch (o) {
      case AclBinding::Operation::kRead:
        return RD_KAFKA_ACL_OPERATION_READ;
      case AclBinding::Operation::kWrite:
        return RD_KAFKA_ACL_OPERATION_WRITE;
      case AclBinding::Operation::kCreate:
        return RD_KAFKA_ACL_OPERATION_CREATE;
      case AclBinding::Operation::kDescribe:
        return RD_KAFKA_ACL_OPERATION_DESCRIBE;
    }
    return RD_KAFKA_ACL_OPERATION_READ;
  }
  std::string brokers_hint() const { return "the brokers (is Kafka up?)"; }
  std::unique_ptr<ClientContext> ctx_;
  HandlePtr rk_;
};

}  // namespace

ProduceErrorKind ClassifyProduceError(int rdkafka_code) {
  switch (static_cast<rd_kafka_resp_err_t>(rdkafka_code)) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return ProduceErrorKind::kTooLarge;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return ProduceErrorKind::kUnauthorized;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return ProduceErrorKind::kUnknownTopic;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      return ProduceErrorKind::kInvalid;
    default:
      return ProduceErrorKind::kRetriable;
  }
}

Result<std::unique_ptr<Producer>> NewRdKafkaProducer(const ClientConfig& config,
                                                     ProducerOptions options) {
  auto ctx = std::make_unique<ClientContext>();
  ctx->on_error = std::move(options.on_error);
  Settings settings = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", std::to_string(options.message_timeout.count())},
      // Not librdkafka's 5 ms (fires are latency-sensitive), nor 0: with 0 the network thread
      // sends whatever is queued at once, so a burst of fires went out in many requests of a
      // few messages each and the broker's cost per request dominated. 1 ms took the broker
      // from ~13 to ~3.5 us of CPU per fire at 100,000 fires/s, and fire lag at 1,000
      // fires/s went down, not up (docs/benchmarks.md, "Scheduler fire rate").
      {"linger.ms", "1"},
      // The scheduler produces every run due at one instant in one burst (100,000 jobs on
      // the same second is a real load). The 100,000-message default made such a burst
      // fail with "Queue full" and wait for ReliablePublisher's retry; memory stays bounded
      // by queue.buffering.max.kbytes (1 GB default).
      {"queue.buffering.max.messages", "1000000"},
      {"compression.type", "lz4"},
  };
  if (!options.transactional_id.empty()) {
    settings.emplace_back("transactional.id", options.transactional_id);
  }
  auto conf = NewConf(config, ctx.get(), settings);
  if (!conf) return tl::unexpected(conf.error());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), RdKafkaProducer::OnDelivery);
  // On the default topic configuration that the topic-level settings above (acks, ...)
  // created: replacing it would drop them. Overrides the `partitioner` setting.
  rd_kafka_topic_conf_t* topic_conf = rd_kafka_conf_get_default_topic_conf(conf->get());
  if (topic_conf == nullptr) {
    topic_conf = rd_kafka_topic_conf_new();
    rd_kafka_conf_set_default_topic_conf(conf->get(), topic_conf);
  }
  rd_kafka_topic_conf_set_partitioner_cb(topic_conf, Partition);
  auto rk = NewHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk) return tl::unexpected(rk.error());
  return std::unique_ptr<Producer>(new RdKafkaProducer(std::move(ctx), std::move(*rk)));
}

Result<std::unique_ptr<TransactionalProducer>> NewRdKafkaTransactionalProducer(
    const ClientConfig& config, ProducerOptions options) {
  if (options.transactional_id.empty()) return MakeError("transactional producer without an id");
  auto producer = NewRdKafkaProducer(config, std::move(options));
  if (!producer) return tl::unexpected(producer.error());
  std::unique_ptr<RdKafkaProducer> inner(static_cast<RdKafkaProducer*>(producer->release()));
  return std::unique_ptr<TransactionalProducer>(new RdKafkaTransactionalProducer(std::move(inner)));
}

Result<std::unique_ptr<Consumer>> NewRdKafkaConsumer(const ClientConfig& config,
                                                     ConsumerOptions options) {
  auto ctx = std::make_unique<ClientContext>();
  ctx->on_error = std::move(options.on_error);
  ctx->listener = options.listener;
  if (options.quiet_rebalances) ctx->rebalance_level = spdlog::level::debug;
  Settings settings = {
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"isolation.level", options.read_committed ? "read_committed" : "read_uncommitted"},
      // Fail over a dead worker's partitions within seconds.
      {"session.timeout.ms", "6000"},
      {"heartbeat.interval.ms", "1000"},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"fetch.wait.max.ms", "100"},
      // A worker pauses and rewinds a partition when its slots are full, then resumes it;
      // librdkafka 2.0 waits fetch.error.backoff.ms (default 500 ms) before fetching the
      // rewound partition again, which made every full-slots cycle cost half a second.
      {"fetch.error.backoff.ms", "10"},
      {"allow.auto.create.topics", "false"},
      {"max.poll.interval.ms", std::to_string(options.max_poll_interval.count())},
  };
  if (!options.group_instance_id.empty()) {
    settings.emplace_back("group.instance.id", options.group_instance_id);
  }
  if (options.report_ends) settings.emplace_back("enable.partition.eof", "true");
  auto conf = NewConf(config, ctx.get(), settings);
  if (!conf) return tl::unexpected(conf.error());
  rd_kafka_conf_set_rebalance_cb(conf->get(), RdKafkaConsumer::OnRebalance);
  rd_kafka_conf_set_offset_commit_cb(conf->get(), RdKafkaConsumer::OnCommitted);
  auto rk = NewHandle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk) return tl::unexpected(rk.error());
  return std::unique_ptr<Consumer>(new RdKafkaConsumer(std::move(ctx), std::move(*rk)));
}

Status CheckClientConfig(const ClientConfig& config) {
  auto conf = NewConf(config, nullptr, {});
  if (!conf) return tl::unexpected(conf.error());
  return {};
}

Result<std::unique_ptr<Admin>> NewRdKafkaAdmin(const ClientConfig& config) {
  auto ctx = std::make_unique<ClientContext>();
  auto conf = NewConf(config, ctx.get(), {});
  if (!conf) return tl::unexpected(conf.error());
  auto rk = NewHandle(RD_KAFKA_PRODUCER, std::move(*conf));
  if (!rk) return tl::unexpected(rk.error());
  return std::unique_ptr<Admin>(new RdKafkaAdmin(std::move(ctx), std::move(*rk)));
}

namespace {

// A consumer handle that never joins a group: it is assigned partitions by the caller.
// read_committed; `eof` reports the end of each partition (ScanTopic needs it: a log that
// ends with transaction control records has no last message to recognise the end by).
// Its context (declared first, so destroyed after the handle) reports refusals to the
// config's hook, like every other client.
struct Reader {
  std::unique_ptr<ClientContext> ctx;
  HandlePtr handle;
  rd_kafka_t* get() const { return handle.get(); }
};

Result<Reader> NewReader(const ClientConfig& config, bool eof) {
  // With the user's properties, like every client: without them a TLS/SASL-only cluster
  // could not be read (`krond dead list`, the scheduler's state and lease, the audit).
  auto ctx = std::make_unique<ClientContext>();
  ctx->group_unused = true;
  auto conf = NewConf(config, ctx.get(),
                      {
                          {"group.id", "krond-reader"},  // required; never joined or committed
                          {"enable.auto.commit", "false"},
                          {"enable.auto.offset.store", "false"},
                          {"enable.partition.eof", eof ? "true" : "false"},
                          {"fetch.wait.max.ms", "100"},
                          {"isolation.level", "read_committed"},
                      });
  if (!conf) return tl::unexpected(conf.error());
  auto rk = NewHandle(RD_KAFKA_CONSUMER, std::move(*conf));
  if (!rk) return tl::unexpected(rk.error());
  rd_kafka_poll_set_consumer(rk->get());
  return Reader{std::move(ctx), std::move(*rk)};
}

// Where a scan of each partition starts: the beginning, or the first offset at or after
// `since` (RD_KAFKA_OFFSET_END when every message is older).
// `err`, when given, is set to what the offsets request answered.
Result<std::vector<int64_t>> StartOffsets(rd_kafka_t* h, const std::string& topic, int partitions,
                                          std::optional<SystemTime> since, int timeout_ms,
                                          rd_kafka_resp_err_t* err) {
  *err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::vector<int64_t> starts(static_cast<size_t>(partitions), RD_KAFKA_OFFSET_BEGINNING);
  if (!since) return starts;
  PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        since->time_since_epoch().count();
  }
  if (auto e = rd_kafka_offsets_for_times(h, list.get(), timeout_ms)) {
    *err = e;
    return MakeError("offsets of " + topic + " by time: " + rd_kafka_err2str(e));
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& elem = list->elems[i];
    if (elem.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return MakeError("offsets of " + topic + " by time: " + rd_kafka_err2str(elem.err));
    }
    starts[static_cast<size_t>(elem.partition)] =
        elem.offset < 0 ? RD_KAFKA_OFFSET_END : elem.offset;
  }
  return starts;
}

}  // namespace

// A scan's clock: its deadline, and the wait of one blocking call. With a stop check, calls
// wait in steps of at most kScanStep and are made again after a step without an answer, so
// a stop is seen within a step even while Kafka does not answer; without one, each call
// waits for whatever is left of the scan's timeout, once.
class ScanClock {
 public:
  static constexpr int kScanStep = 500;  // ms

  explicit ScanClock(const ScanOptions& options)
      : options_(options), deadline_(std::chrono::steady_clock::now() + options.timeout) {}

  bool Stopped() const { return options_.stopped && options_.stopped(); }
  bool Expired() const { return std::chrono::steady_clock::now() > deadline_; }
  // Calls `call(timeout_ms)` until it answers, or the deadline passes, or the scan is
  // stopped; its last answer. A step that ends without an answer from Kafka (timed out, or
  // the broker unreachable for the whole step) is made again.
  template <typename Call>
  rd_kafka_resp_err_t Wait(Call call) const {
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      int step = static_cast<int>(std::max<int64_t>(left.count(), 1));
      if (!options_.stopped) return call(step);
      const rd_kafka_resp_err_t err = call(std::min(step, kScanStep));
      const bool unanswered = err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                              err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                              err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
      if (!unanswered || Expired() || Stopped()) return err;
    }
  }

 private:
  const ScanOptions& options_;
  const std::chrono::steady_clock::time_point deadline_;
};

Status ScanTopic(const ClientConfig& config, const std::string& topic, const ScanOptions& options,
                 const std::function<bool(const ConsumedMessage&)>& on_message) {
  auto rk = NewReader(config, /*eof=*/true);
  if (!rk) return tl::unexpected(rk.error());
  rd_kafka_t* h = rk->get();
  const ScanClock clock(options);
  const int ms = static_cast<int>(options.timeout.count());
  auto stopped = [&topic] { return MakeError("reading " + topic + " stopped"); };
  Result<int> partitions = MakeError("");
  clock.Wait([&](int step) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    partitions = CountPartitions(h, topic, step, &err);
    return err;
  });
  if (clock.Stopped()) return stopped();
  if (!partitions) return tl::unexpected(partitions.error());
  Result<std::vector<int64_t>> starts = MakeError("");
  clock.Wait([&](int step) {
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    starts = StartOffsets(h, topic, *partitions, options.since, step, &err);
    return err;
  });
  if (clock.Stopped()) return stopped();
  if (!starts) return tl::unexpected(starts.error());

  std::vector<TopicPartition> wanted;
  std::vector<int64_t> ends(static_cast<size_t>(*partitions), 0);
  for (int p = 0; p < *partitions; ++p) {
    int64_t low = 0, high = 0;
    const rd_kafka_resp_err_t err = clock.Wait([&](int step) {
      return rd_kafka_query_watermark_offsets(h, topic.c_str(), p, &low, &high, step);
    });
    if (clock.Stopped()) return stopped();
    if (err) {
      NoteRefusal(rk->ctx.get(), err);
      return MakeError("offsets of " + topic + ": " + rd_kafka_err2str(err));
    }
    ends[static_cast<size_t>(p)] = high;
    const int64_t start = (*starts)[static_cast<size_t>(p)];
    if (high > low && start != RD_KAFKA_OFFSET_END && (start < 0 || start < high)) {
      wanted.push_back({topic, p, start});
    }
  }
  if (wanted.empty()) return {};
  auto list = ToList(wanted);
  if (auto err = rd_kafka_assign(h, list.get())) {
    return MakeError(std::string("assign: ") + rd_kafka_err2str(err));
  }
  size_t done = 0;
  std::vector<bool> finished(static_cast<size_t>(*partitions), false);
  auto finish = [&](int32_t partition) {
    if (partition < 0 || partition >= *partitions || finished[static_cast<size_t>(partition)]) {
      return;
    }
    finished[static_cast<size_t>(partition)] = true;
    ++done;
  };
  while (done < wanted.size()) {
    if (clock.Expired()) {
      return MakeError("reading " + topic + " timed out after " + std::to_string(ms) + " ms");
    }
    if (clock.Stopped()) {
      rd_kafka_consumer_close(h);
      return stopped();
    }
    MessagePtr m(rd_kafka_consumer_poll(h, 200));
    if (!m) continue;
    // The end of a partition as read_committed sees it: its last stable offset.
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      finish(m->partition);
      continue;
    }
    if (UnusedGroupRefusal(rk->ctx.get(), m->err)) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // A refusal does not pass by itself (the ACLs must change): say so now rather than
      // time out. Other errors are retried by librdkafka until the deadline.
      if (NoteRefusal(rk->ctx.get(), m->err)) {
        return MakeError("reading " + topic + ": refused by Kafka (" +
                         std::string(RefusalName(*RefusalOf(m->err))) +
                         "): " + rd_kafka_message_errstr(m.get()) + " (docs/security.md)");
      }
      continue;
    }
    const auto p = static_cast<size_t>(m->partition);
    if (finished[p]) continue;
    if (!on_message(ToConsumed(m.get()))) {
      rd_kafka_consumer_close(h);
      return stopped();
    }
    // With transactions, control records occupy offsets: the last data message can be
    // before high-1, so finish on position rather than on the message offset.
    int64_t pos = m->offset + 1;
    if (pos >= ends[p] - 1) {
      PartitionListPtr positions(rd_kafka_topic_partition_list_new(1));
      rd_kafka_topic_partition_list_add(positions.get(), topic.c_str(), m->partition);
      rd_kafka_position(h, positions.get());
      pos = std::max(pos, positions->elems[0].offset);
    }
    if (pos >= ends[p]) finish(m->partition);
  }
  rd_kafka_consumer_close(h);
  return {};
}

Result<std::vector<ConsumedMessage>> ReadTopicSnapshot(const ClientConfig& config,
                                                       const std::string& topic,
                                                       std::chrono::milliseconds timeout) {
  std::vector<ConsumedMessage> out;
  ScanOptions options;
  options.timeout = timeout;
  if (auto ok = ScanTopic(config, topic, options,
                          [&out](const ConsumedMessage& m) {
                            out.push_back(m);
                            return true;
                          });
      !ok) {
    return tl::unexpected(ok.error());
  }
  return out;
}

namespace {

// Follows one partition of a topic from `tail` messages before its end (read_committed).
class RdKafkaPartitionFollower final : public PartitionFollower {
 public:
  explicit RdKafkaPartitionFollower(Reader rk) : rk_(std::move(rk)) {}
  ~RdKafkaPartitionFollower() override { rd_kafka_consumer_close(rk_.get()); }

  Result<std::optional<ConsumedMessage>> Poll(std::chrono::milliseconds timeout) override {
    MessagePtr m(rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count())));
    if (!m) return std::optional<ConsumedMessage>();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end_ = true;
      return std::optional<ConsumedMessage>();
    }
    if (UnusedGroupRefusal(rk_.ctx.get(), m->err)) return std::optional<ConsumedMessage>();
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      NoteRefusal(rk_.ctx.get(), m->err);
      return MakeError(std::string("follow: ") + rd_kafka_message_errstr(m.get()));
    }
    at_end_ = false;
    return std::optional<ConsumedMessage>(ToConsumed(m.get()));
  }
  bool AtEnd() const override { return at_end_; }

 private:
  Reader rk_;
  bool at_end_ = false;
};

}  // namespace

Result<std::unique_ptr<PartitionFollower>> NewRdKafkaPartitionFollower(const ClientConfig& config,
                                                                       const std::string& topic,
                                                                       int32_t partition,
                                                                       int64_t tail) {
  auto rk = NewReader(config, /*eof=*/true);
  if (!rk) return tl::unexpected(rk.error());
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset =
      RD_KAFKA_OFFSET_TAIL(tail);
  if (auto err = rd_kafka_assign(rk->get(), list.get())) {
    return MakeError("follow " + topic + ": assign: " + rd_kafka_err2str(err));
  }
  return std::unique_ptr<PartitionFollower>(new RdKafkaPartitionFollower(std::move(*rk)));
}

}  // namespace krond::kafka
