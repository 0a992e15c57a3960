#include "scheduler/fire_queue.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace krond::scheduler {
namespace {

SystemTime At(int64_t ms) { return SystemTime(std::chrono::milliseconds(ms)); }

std::vector<std::pair<int64_t, uint32_t>> Drain(FireQueue& q) {
  std::vector<std::pair<int64_t, uint32_t>> out;
  while (!q.Empty()) {
    out.emplace_back(q.TopTime().time_since_epoch().count(), q.TopJob());
    q.Pop();
  }
  return out;
}

TEST(FireQueueTest, PopsInTimeOrder) {
  FireQueue q;
  EXPECT_TRUE(q.Empty());
  q.Push(At(300), 0);
  q.Push(At(100), 1);
  q.Push(At(200), 2);
  q.Push(At(-50), 3);  // before the epoch: still ordered
  EXPECT_EQ(q.Size(), 4u);
  EXPECT_EQ(q.TopTime(), At(-50));
  EXPECT_EQ(Drain(q),
            (std::vector<std::pair<int64_t, uint32_t>>{{-50, 3}, {100, 1}, {200, 2}, {300, 0}}));
}

TEST(FireQueueTest, PopsInDispatchOrderAndKeepsEachFireInstant) {
  FireQueue q;
  q.Push(At(1000), 0, std::chrono::milliseconds(100));  // dispatched at 900
  q.Push(At(1200), 1, std::chrono::milliseconds(500));  // dispatched at 700
  EXPECT_EQ(q.TopTime(), At(700));
  EXPECT_EQ(q.TopAt(), At(1200));
  EXPECT_EQ(q.Entries()[0].at(), At(1200));
  EXPECT_EQ(Drain(q), (std::vector<std::pair<int64_t, uint32_t>>{{700, 1}, {900, 0}}));
}

TEST(FireQueueTest, TiesFireInJobOrder) {
  FireQueue q;
  for (uint32_t job : {7u, 2u, 9u, 0u, 5u}) q.Push(At(1000), job);
  q.Push(At(999), 8);
  q.Push(At(1001), 1);
  EXPECT_EQ(Drain(q),
            (std::vector<std::pair<int64_t, uint32_t>>{
                {999, 8}, {1000, 0}, {1000, 2}, {1000, 5}, {1000, 7}, {1000, 9}, {1001, 1}}));
}

TEST(FireQueueTest, ClearAndReserveEmptyTheQueue) {
  FireQueue q;
  q.Push(At(1), 1);
  q.Clear();
  EXPECT_TRUE(q.Empty());
  q.Push(At(1), 1);
  q.Reserve(100);
  EXPECT_TRUE(q.Empty());
  q.Push(At(5), 2);
  q.Push(At(3), 3);
  EXPECT_EQ(Drain(q), (std::vector<std::pair<int64_t, uint32_t>>{{3, 3}, {5, 2}}));
}

TEST(FireQueueTest, EntryIsSixteenBytes) { EXPECT_EQ(sizeof(FireQueue::Entry), 16u); }

}  // namespace
}  // namespace krond::scheduler
