import Yams

/// YAML from a file people write (sluice.yml, the key file), as plain values.
///
/// Yams' own `load` traps on a mapping key that is not a scalar (`[a]: b`), which ends the
/// command with a crash instead of an error: this walks the node tree itself, refuses
/// such keys and nesting past `maximumDepth`, and leaves scalars to Yams' resolution.
public enum YAMLText {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public static let maximumDepth = 32

    /// The document's value (a dictionary with string keys, an array, or a scalar's
    /// Int, Double, Bool or String); nil for an empty document.
    public static func load(_ text: String) throws -> Any? {
        guard let node = try compose(text) else { return nil }
        return try value(of: node, depth: 0)
    }

    /// Yams' node tree, after `checkNesting`: use instead of `Yams.compose`.
    public static func compose(_ text: String) throws -> Node? {
        try checkNesting(text)
        return try Yams.compose(yaml: text)
    }

    /// Yams builds its tree recursively: 10,000 nested `[` overflow the stack, and a stack
    /// overflow ends the process. This bounds the nesting from the text alone, before
    /// parsing: per line, the indentation (two columns a level), the `- `/`? ` indicators
    /// that open it, and the brackets still open. Files people write stay far below.
    ///
    /// Lines end where libyaml ends them: at LF, CR, and the Unicode breaks NEL, LS and PS
    /// (a lone CR once hid a thousand `- ` behind a comment).
    public static func checkNesting(_ text: String) throws {
        let bytes = Array(text.utf8)
        var open = 0
        var start = 0
        while start <= bytes.count {
            let (end, next) = lineEnd(bytes, from: start)
            if lineDepth(bytes[start..<end], open: &open) > maximumDepth {
                throw Problem(description: "nested more than \(maximumDepth) levels deep")
            }
            start = next
        }
    }

    /// Where the line starting at `start` ends, and where the next one starts.
    private static func lineEnd(_ bytes: [UInt8], from start: Int) -> (end: Int, next: Int) {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x0A, 0x0D:
                return (index, index + 1)
            case 0xC2 where index + 1 < bytes.count && bytes[index + 1] == 0x85:
                return (index, index + 2)
            case 0xE2 where index + 2 < bytes.count && bytes[index + 1] == 0x80 && (bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9):
                return (index, index + 3)
            default:
                index += 1
            }
        }
        return (bytes.count, bytes.count + 1)
    }

    /// The nesting a line reaches: its indentation, the block indicators that open it,
    /// and the flow brackets open at its end (carried in `open` to the next line).
    private static func lineDepth(_ line: ArraySlice<UInt8>, open: inout Int) -> Int {
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        var index = line.startIndex
        while index < line.endIndex, isBlank(line[index]) { index += 1 }
        let indentation = index - line.startIndex
        var indicators = 0
        while index + 1 < line.endIndex, line[index] == 0x2D || line[index] == 0x3F, isBlank(line[index + 1]) {
            indicators += 1
            index += 2
            while index < line.endIndex, isBlank(line[index]) { index += 1 }
        }
        for byte in line[index...] {
            if byte == 0x5B || byte == 0x7B { open += 1 } else if byte == 0x5D || byte == 0x7D { open = max(0, open - 1) }
            if open > maximumDepth { break }
        }
        return indentation / 2 + indicators + open
    }

    static func value(of node: Node, depth: Int) throws -> Any {
        guard depth < maximumDepth else { throw Problem(description: "nested more than \(maximumDepth) levels deep") }
        switch node {
        case .scalar:
            return Constructor.default.any(from: node)
        case .sequence(let sequence):
            return try sequence.map { try value(of: $0, depth: depth + 1) }
        case .mapping(let mapping):
            var result: [String: Any] = [:]
            for (key, item) in mapping {
                guard let name = key.scalar?.string else {
                    throw Problem(description: "line \((key.mark?.line).map(String.init) ?? "?"): keys must be words, not lists or mappings")
                }
                result[name] = try value(of: item, depth: depth + 1)
            }
            return result
        @unknown default:
            throw Problem(description: "unsupported YAML node")
        }
    }
}
