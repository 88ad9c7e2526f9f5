/// An elementwise (or per-axis) function as a layer without parameters, so that it can sit in a
/// ``Sequential`` or a model's stored properties: `Activation<Float>.tanh`,
/// `.leakyRelu(negativeSlope: 0.2)`, `.softmax(alongAxis: -1)`, or any function of a tensor.
///
/// One type with named instances rather than a struct per function (`Tanh`, `ReLU`, ...): each
/// would be the same three lines, and a custom activation is then just
/// `Activation(name: "swish") { x in x * sigmoid(x) }`. Shapes are those of the wrapped op,
/// unchanged for all the built-in ones.
public struct Activation<Scalar: TensorScalar>: Layer, CustomStringConvertible {
  /// A short name for printing, such as `tanh` or `leakyRelu(0.2)`.
  public let name: String
  private let function: (Tensor<Scalar>) -> Tensor<Scalar>

  /// An activation applying `function`, printed as `name`.
  public init(name: String, _ function: @escaping (Tensor<Scalar>) -> Tensor<Scalar>) {
    self.name = name
    self.function = function
  }

  /// Applies the function.
  public func callAsFunction(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
    function(input)
  }

  /// The name, e.g. `Activation(tanh)`.
  public var description: String { "Activation(\(name))" }

  /// The identity, a placeholder where a model takes an activation but should use none.
  public static var identity: Activation { Activation(name: "identity") { $0 } }

  /// ``tanh(_:)``: values in (−1, 1).
  public static var tanh: Activation { Activation(name: "tanh") { Tapestry.tanh($0) } }

  /// ``sigmoid(_:)``: values in (0, 1).
  public static var sigmoid: Activation { Activation(name: "sigmoid") { Tapestry.sigmoid($0) } }

  /// ``relu(_:)``: max(x, 0).
  public static var relu: Activation { Activation(name: "relu") { Tapestry.relu($0) } }

  /// ``leakyRelu(_:negativeSlope:)``: x for x > 0, `negativeSlope`·x otherwise (default 0.01, as
  /// in PyTorch).
  public static func leakyRelu(negativeSlope: Scalar = 0.01) -> Activation {
    Activation(name: "leakyRelu(\(negativeSlope))") {
      Tapestry.leakyRelu($0, negativeSlope: negativeSlope)
    }
  }

  /// ``softplus(_:)``: log(1 + eˣ), a smooth relu.
  public static var softplus: Activation {
    Activation(name: "softplus") { Tapestry.softplus($0) }
  }

  /// ``elu(_:alpha:)``: x for x > 0, `alpha`·(eˣ − 1) otherwise (default 1).
  public static func elu(alpha: Scalar = 1) -> Activation {
    Activation(name: "elu(\(alpha))") { Tapestry.elu($0, alpha: alpha) }
  }

  /// ``softmax(_:alongAxis:)`` over `axis` (default the last): each slice sums to 1.
  public static func softmax(alongAxis axis: Int = -1) -> Activation {
    Activation(name: "softmax(\(axis))") { Tapestry.softmax($0, alongAxis: axis) }
  }

  /// ``logSoftmax(_:alongAxis:)`` over `axis` (default the last): the input of a negative
  /// log-likelihood.
  public static func logSoftmax(alongAxis axis: Int = -1) -> Activation {
    Activation(name: "logSoftmax(\(axis))") { Tapestry.logSoftmax($0, alongAxis: axis) }
  }
}
