/**
 * The nodes the servers currently answer: those in a boot attempt (registered by NONEtoWAIT, dropped on
 * interrupt, when the node's boot state resets, or once it has synced). Lookups by MAC (DHCP) and by IP
 * (TFTP, HTTP). Everyone else gets silence.
 */
import type {BootNode} from './bootnode.js';

export class Registry {
  private readonly byId = new Map<string, BootNode>();
  private readonly macs = new Map<string, BootNode>();
  private readonly ips = new Map<string, BootNode>();
  /** Extra addresses a node was seen using (proxyDHCP mode: the address another server gave it). */
  private readonly aliases = new Map<string, string>();

  /** Adds or refreshes a node (idempotent). */
  register(node: BootNode): void {
    this.unregister(node.id);
    this.byId.set(node.id, node);
    this.macs.set(node.ipv4.mac, node);
    this.ips.set(node.ipv4.ip, node);
  }

  unregister(id: string): boolean {
    const old = this.byId.get(id);
    if (!old) return false;
    this.byId.delete(id);
    if (this.macs.get(old.ipv4.mac)?.id === id) this.macs.delete(old.ipv4.mac);
    if (this.ips.get(old.ipv4.ip)?.id === id) this.ips.delete(old.ipv4.ip);
    for (const [ip, owner] of this.aliases) if (owner === id) this.aliases.delete(ip);
    return true;
  }

  addAlias(id: string, ip: string): void {
    if (this.byId.has(id) && !this.ips.has(ip)) this.aliases.set(ip, id);
  }

  get(id: string): BootNode | undefined { return this.byId.get(id); }
  byMac(mac: string): BootNode | undefined { return this.macs.get(mac); }
  byIp(ip: string): BootNode | undefined {
    const n = this.ips.get(ip);
    if (n) return n;
    const alias = this.aliases.get(ip);
    return alias ? this.byId.get(alias) : undefined;
  }
  list(): BootNode[] { return [...this.byId.values()]; }
  get size(): number { return this.byId.size; }
}
