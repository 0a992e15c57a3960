// librdkafka's error codes, as krond classifies them (ProduceErrorKind). The only test that
// includes librdkafka: the mapping is worth pinning against its real codes.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include "kafka/rdkafka_client.h"

namespace krond::kafka {
namespace {

ProduceErrorKind Kind(rd_kafka_resp_err_t code) {
  return ClassifyProduceError(static_cast<int>(code));
}

TEST(ClassifyProduceError, RecordsThatCanNeverBeWrittenArePermanent) {
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), ProduceErrorKind::kTooLarge);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE), ProduceErrorKind::kTooLarge);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), ProduceErrorKind::kUnauthorized);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED), ProduceErrorKind::kUnauthorized);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC), ProduceErrorKind::kUnknownTopic);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), ProduceErrorKind::kUnknownTopic);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_INVALID_RECORD), ProduceErrorKind::kInvalid);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION), ProduceErrorKind::kInvalid);
  EXPECT_EQ(Kind(RD_KAFKA_RESP_ERR_POLICY_VIOLATION), ProduceErrorKind::kInvalid);
}

TEST(ClassifyProduceError, FaultsThatPassAreRetriable) {
  for (rd_kafka_resp_err_t code :
       {RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION}) {
    EXPECT_EQ(Kind(code), ProduceErrorKind::kRetriable) << rd_kafka_err2name(code);
  }
}

}  // namespace
}  // namespace krond::kafka
