// The per-worker upstream session cache: one session per endpoint, the newest wins, a session of an older
// client context never displaces one of the context in force, and only resumable sessions are kept.
#include "proxy/tls/tls_session_cache.hpp"

#include <gtest/gtest.h>

namespace apimeter {
namespace {

// A resumable session (it has an id), owned by the caller.
SSL_SESSION* make_session(unsigned char id) {
  SSL_SESSION* session = SSL_SESSION_new();
  SSL_SESSION_set1_id(session, &id, 1);
  return session;
}

const tcp::endpoint kShop{asio::ip::make_address("127.0.0.1"), 3000};
const tcp::endpoint kCrm{asio::ip::make_address("127.0.0.1"), 3001};

TEST(TlsSessionCache, KeepsTheNewestSessionPerEndpointAndContext) {
  TlsSessionCache cache;
  SSL_SESSION* first = make_session(1);
  SSL_SESSION* second = make_session(2);
  SSL_SESSION* other = make_session(3);
  ASSERT_TRUE(cache.remember(kShop, 7, first));
  ASSERT_TRUE(cache.remember(kCrm, 7, other));
  EXPECT_EQ(cache.find(kShop, 7), first);
  ASSERT_TRUE(cache.remember(kShop, 7, second));  // frees `first`
  EXPECT_EQ(cache.find(kShop, 7), second);
  EXPECT_EQ(cache.find(kCrm, 7), other);
  EXPECT_EQ(cache.size(), 2u);
  // Another context (a reload) finds nothing until it has sessions of its own.
  EXPECT_EQ(cache.find(kShop, 8), nullptr);
}

TEST(TlsSessionCache, AnOlderContextDoesNotDisplaceTheCurrentOne) {
  TlsSessionCache cache;
  SSL_SESSION* current = make_session(1);
  ASSERT_TRUE(cache.remember(kShop, 8, current));
  SSL_SESSION* stale = make_session(2);
  EXPECT_FALSE(cache.remember(kShop, 7, stale));  // a connection still running under the old snapshot
  SSL_SESSION_free(stale);                        // not taken: still ours
  EXPECT_EQ(cache.find(kShop, 8), current);
}

TEST(TlsSessionCache, RefusesSessionsThatCannotResumeAndForgetsOnFailure) {
  TlsSessionCache cache;
  SSL_SESSION* empty = SSL_SESSION_new();  // no id, no ticket
  EXPECT_FALSE(cache.remember(kShop, 1, empty));
  SSL_SESSION_free(empty);
  ASSERT_TRUE(cache.remember(kShop, 1, make_session(1)));
  cache.forget(kShop);
  EXPECT_EQ(cache.find(kShop, 1), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  cache.forget(kCrm);  // nothing there: nothing happens
}

}  // namespace
}  // namespace apimeter
