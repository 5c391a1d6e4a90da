import Sluice
import Testing

@testable import SluiceServer

/// The idempotency index: ids are remembered for the window, at most `countMax` of them, oldest first out.
@Suite struct IdempotencyIndexTests {
    static func id(_ number: UInt64) -> EventID { EventID(high: 1, low: number) }

    /// An accepted id keeps its ring position until it is durable, so that a duplicate of it (a client's retry)
    /// waits for the original instead of being answered `duplicate` while the original may still be lost.
    @Test func acceptedIdsKeepTheirPositionUntilDurable() {
        var index = IdempotencyIndex(windowMicroseconds: 1_000_000, countMax: 100_000)
        for number in 0..<5_000 {
            index.insert(Self.id(UInt64(number)), seenMicroseconds: 0)
            index.notePending(Self.id(UInt64(number)), position: number)
        }
        #expect(index.pendingPosition(of: Self.id(4_999)) == 4_999)
        #expect(index.pendingPosition(of: Self.id(5_000)) == nil)
        index.forgetDurable(acknowledged: 4_000)  // positions 0…3999 are durable: forgotten
        #expect(index.pendingPosition(of: Self.id(3_999)) == nil)
        #expect(index.pendingPosition(of: Self.id(4_000)) == 4_000)
        #expect(index.contains(Self.id(3_999)), "still a duplicate: only its wait is over")
    }

    /// Durable positions are forgotten at once and in order, however few or many are pending (the table used to
    /// be scanned whole, per request, once it held more than 4,096: quadratic under load, and stale below it).
    @Test func durablePositionsAreForgottenInOrder() {
        var index = IdempotencyIndex(windowMicroseconds: 1_000_000, countMax: 1_000_000)
        for number in 0..<1_000 {
            index.insert(Self.id(UInt64(number)), seenMicroseconds: 0)
            index.notePending(Self.id(UInt64(number)), position: number)
        }
        index.forgetDurable(acknowledged: 600)
        #expect(index.pendingPosition(of: Self.id(5)) == nil)
        #expect(index.pendingPosition(of: Self.id(599)) == nil)
        #expect(index.pendingPosition(of: Self.id(600)) == 600)
        #expect(index.pendingCount == 400)
        for number in 1_000..<200_000 {  // a steady stream with ~100 pending: the table stays small
            index.notePending(Self.id(UInt64(number)), position: number)
            index.forgetDurable(acknowledged: number - 100)
        }
        #expect(index.pendingCount == 101)
        #expect(index.pendingPosition(of: Self.id(199_999)) == 199_999)
        #expect(index.pendingPosition(of: Self.id(199_898)) == nil)
    }

    @Test func idsExpireAfterTheWindow() {
        var index = IdempotencyIndex(windowMicroseconds: 1_000, countMax: 10)
        index.insert(Self.id(1), seenMicroseconds: 0)
        index.insert(Self.id(2), seenMicroseconds: 500)
        index.expire(nowMicroseconds: 1_000)
        #expect(index.contains(Self.id(1)))
        index.expire(nowMicroseconds: 1_001)
        #expect(!index.contains(Self.id(1)))
        #expect(index.contains(Self.id(2)))
        index.expire(nowMicroseconds: 10_000)
        #expect(index.count == 0)
    }

    @Test func memoryIsBoundedOldestFirst() {
        var index = IdempotencyIndex(windowMicroseconds: 1 << 40, countMax: 3)
        for number in 1...5_000 { index.insert(Self.id(UInt64(number)), seenMicroseconds: Int64(number)) }
        #expect(index.count == 3)
        #expect(!index.contains(Self.id(4_997)))
        #expect(index.contains(Self.id(4_998)))
        #expect(index.contains(Self.id(5_000)))
    }

    @Test func aZeroWindowRemembersNothing() {
        var index = IdempotencyIndex(windowMicroseconds: 0, countMax: 3)
        index.insert(Self.id(1), seenMicroseconds: 0)
        #expect(!index.contains(Self.id(1)))
    }

    @Test func reinsertingKeepsOneEntry() {
        var index = IdempotencyIndex(windowMicroseconds: 100, countMax: 2)
        index.insert(Self.id(1), seenMicroseconds: 0)
        index.insert(Self.id(1), seenMicroseconds: 50)
        index.insert(Self.id(2), seenMicroseconds: 60)
        #expect(index.count == 2)
        index.expire(nowMicroseconds: 101)  // the first sighting counts: id 1 expires at 100
        #expect(!index.contains(Self.id(1)))
        #expect(index.contains(Self.id(2)))
    }
}
