import Testing

/// A state × event table for a state machine; ``expectCovers()`` fails while any pair of
/// `StateKind.allCases × EventKind.allCases` has no row, so adding a state or an event fails the
/// test until its behaviour is written down.
struct StateEventTable<
    StateKind: CaseIterable & Hashable & Sendable,
    EventKind: CaseIterable & Hashable & Sendable,
    Expected: Sendable
>: Sendable {
    private(set) var rows: [StateKind: [EventKind: Expected]] = [:]

    subscript(state: StateKind, event: EventKind) -> Expected? {
        get { rows[state]?[event] }
        set { rows[state, default: [:]][event] = newValue }
    }

    func expectCovers(sourceLocation: SourceLocation = #_sourceLocation) {
        for state in StateKind.allCases {
            for event in EventKind.allCases {
                #expect(self[state, event] != nil, "no row for \(state) × \(event)", sourceLocation: sourceLocation)
            }
        }
        let rowCount = rows.values.map(\.count).reduce(0, +)
        #expect(rowCount == StateKind.allCases.count * EventKind.allCases.count, sourceLocation: sourceLocation)
    }
}

/// What one pair must do: end in a state with an action, or trap (a driver bug).
enum Transition<State: Equatable & Sendable, Action: Equatable & Sendable>: Equatable, Sendable {
    case to(State, Action)
    case traps
}
