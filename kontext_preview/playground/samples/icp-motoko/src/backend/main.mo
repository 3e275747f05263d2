actor {
  var greetings : Nat = 0;

  public func greet(name : Text) : async Text {
    greetings += 1;
    "Hello, " # name # "!";
  };

  public query func count() : async Nat {
    greetings;
  };
};
