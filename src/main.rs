//! The `wsdial` command line (in progress).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, addr] if cmd == "parse" => match wsdial::Address::parse(addr) {
            Ok(a) => println!("{a:#?}"),
            Err(e) => {
                eprintln!("wsdial: {e}");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("usage: wsdial parse ADDRESS");
            std::process::exit(2);
        }
    }
}
