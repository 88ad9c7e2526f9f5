extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
  /// The values laid out like NumPy and PyTorch print them, nested brackets per axis, followed by
  /// the shape; tensors with more than 1,000 elements show the first and last three entries of
  /// each axis with `...` between.
  ///
  /// ```
  /// [[1.0, 2.0, 3.0],
  ///  [4.0, 5.0, 6.0]] shape [2, 3], float32
  /// ```
  public var description: String {
    let summarise = count > 1000
    var text = ""
    format(axis: 0, offset: 0, summarise: summarise, into: &text)
    let recorded = isRecorded ? ", recorded" : ""
    return "\(text) shape \(shape), \(Scalar.dtypeName)\(recorded)"
  }

  /// The same as ``description``.
  public var debugDescription: String { description }

  /// Appends the sub-tensor starting at flat `offset` for axes `axis...` to `text`.
  private func format(axis: Int, offset: Int, summarise: Bool, into text: inout String) {
    guard axis < rank else {
      text += "\(scalars[offset])"
      return
    }
    let length = shape[axis]
    let stride = shape[(axis + 1)...].reduce(1, *)
    let shown: [Int?] =
      summarise && length > 6
      ? [0, 1, 2, nil, length - 3, length - 2, length - 1] : (0..<length).map { $0 }
    let isInnermost = axis == rank - 1
    let separator = isInnermost ? ", " : ",\n" + String(repeating: " ", count: axis + 1)
    text += "["
    for (position, index) in shown.enumerated() {
      if position > 0 { text += separator }
      if let index {
        format(axis: axis + 1, offset: offset + index * stride, summarise: summarise, into: &text)
      } else {
        text += "..."
      }
    }
    text += "]"
  }
}
