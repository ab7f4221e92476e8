import LedgerCore

func id(_ s: String) -> ID { ID(s)! }
